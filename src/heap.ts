// Imported first by the CLI. A sync reads pages of about a megabyte and lets each go once it has
// landed; left to its defaults, V8 lets the heap grow to several times what is live before a full
// collection (a 25 MB working set showed as 110-135 MB of heap). provet-sync is meant to sit in a
// small container for years, so the heap may grow to twice what is live, not more: a few more
// full collections (each about 10 ms at this size) for a flat, predictable footprint.
// The flag is read at every collection, so setting it at startup takes effect. (The young
// generation's size is fixed when V8 starts, too late for here: the Docker image's ENTRYPOINT sets
// it, --max-semi-space-size=4, for another 20 MB or so at the peak.)
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--heap-growing-percent=100');
