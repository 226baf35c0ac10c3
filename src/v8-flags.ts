// V8 flags that can still take effect once Node has started; imported first by the CLI.
//
// --heap-growing-percent=100: a sync reads pages of about a megabyte and lets each go once it has
// landed; left to its defaults, V8 lets the heap grow to several times what is live before a full
// collection (a 25 MB working set showed as 110-135 MB of heap). provet-sync is meant to sit in a
// small container for years, so the heap may grow to twice what is live, not more: a few more
// full collections (each about 10 ms at this size) for a flat, predictable footprint. The flag is
// read at every collection, so setting it here takes effect. (The young generation's size is
// fixed when V8 starts, too late for here: the Docker image's ENTRYPOINT sets it,
// --max-semi-space-size=4, for another 20-30 MB at the peak.)
//
// --liftoff-only: undici parses HTTP with llhttp compiled to WebAssembly, and V8 compiles that
// module again with its optimising compiler on a background thread, a job of about 250 ms of CPU
// that Node waits for before the process can exit: a sync with nothing to do took 0.15-0.2 s
// longer to end than to finish its work. The baseline compiler's code parses the backfill's pages
// as fast, measured end to end (same CPU, same wall time within noise, 100,000 clients). It must
// be set before undici compiles the module, which it does at its first request.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--heap-growing-percent=100');
setFlagsFromString('--liftoff-only');

// A full collection every few pages landed. A page's body, its raw records and its COPY payload
// are a few megabytes outside V8's heap, held by small objects that outlive the young generation:
// they go only at a full collection, which V8 times by its heap, not by that memory. With the
// client and patient streams landing pages at once, that garbage made a million-client backfill
// peak at 144-155 MB against 138 with one stream; a collection every 8 pages (about 10 ms each,
// some 8,000 records apart) brought it to 131 MB, 10,000 clients from 114 to 110 MB, at no
// measurable cost in wall time. (--expose-gc set now reaches the contexts made after it.)
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const PAGES_PER_COLLECTION = 8;
let pagesSinceCollection = 0;

/** Called once a page of records has landed: every PAGES_PER_COLLECTION pages, a full collection. */
export function pageLanded(): void {
  pagesSinceCollection += 1;
  if (pagesSinceCollection < PAGES_PER_COLLECTION) return;
  pagesSinceCollection = 0;
  collectGarbage();
}
