// Reading a whole list so that no record is skipped.
//
// Page numbers are offsets: when a record leaves the list while it is read (a hard delete in
// Provet's UI), every later record moves one place forward, and the one that slides from page
// n+1 onto page n, already read, is never seen. So lists are read by id instead (a keyset walk):
// `ordering=id`, and each next page asks for `id__gt=<last id of the page before>`. A record that
// leaves the list then moves nothing, deep pages cost what the first does, and the page size, and
// so the rate-limit cost of each request, is unchanged.
//
// Every page is checked before it is handed out (and so before anything of it lands): its ids
// strictly ascending and above the previous page's last id. An installation that ignores
// `id__gt` answers the second request with the first page again; one that ignores `ordering`
// (and does not sort by id anyway) shows ids out of order. Either way the walk falls back to page
// numbers, following `next` under the usual guards, and then does not trust a walk during which
// the list shrank: each page's `count` is noted, a fresh count is asked for at the end (it matters
// when the walk ended on a 404 past a page that had a next link), and if any count fell below one
// seen earlier, the pages from just before the first fall onward are read again, since up to that
// many records may have slid back over a page boundary meanwhile.
//
// A keyset page that looks right can still be wrong if Provet ignores the order and its own order
// merely ascends on that page (by `created`, say): its records are then not the lowest ids above
// the cursor, and the next `id__gt` jumps over the rest. Each page's `count` (the records left
// above its cursor) shows it: when fewer are left than the page before said, the records above
// that page's cursor are counted again, and more of them below its last id than it held means the
// order is not by id. (Deletions meanwhile also leave fewer, and are harmless by id: they pass.)
// At most MAX_REREADS such rounds; a list still shrinking after them fails the walk (a retryable
// error: the caller's watermark does not move, and the next run reads it again).
import { ProvetApiError, where } from './errors.js';
import type { PageResult } from './pages.js';

type Query = Record<string, string | number | boolean>;

/** A page as fetched, with the id of each of its records as sent (null: none usable). */
export interface IdentifiedPage<R> {
  page: PageResult<R>;
  ids: (number | null)[];
}

/** What the walk needs from the API client. */
export interface ListSource<R> {
  endpoint: string;
  pageSize: number;
  /** Page 1 of the walk's query with `extra` parameters added; `ordinal` names it in messages. */
  fetchFirst(extra: Query, ordinal: number): Promise<IdentifiedPage<R>>;
  /** The page-number walk of the query from page `from`, following `next`. */
  pagesFrom(from: number): AsyncGenerator<IdentifiedPage<R>>;
  /** How many records the query (with `extra` parameters) matches now: a page_size=1 request, one budget unit. */
  count(extra?: Query): Promise<number>;
  /** Whether this endpoint is already known to ignore `id__gt` or `ordering`. */
  keysetKnownIgnored: boolean;
  /** The walk leaves the keyset; `installation` when Provet ignored a parameter (not one odd record). */
  onFallback(reason: string, installation: boolean): void;
  /** The list shrank during a page-number walk; pages from `from` are read again. */
  onShrink(details: { shrankBy: number; from: number; round: number }): void;
}

/** Rounds of re-reading after a page-number walk saw the list shrink. */
export const MAX_REREADS = 3;

/** The walk's pages in order; `page` counts the walk's pages, `count` and `numPages` estimate its whole. */
export async function* walkList<R>(source: ListSource<R>): AsyncGenerator<PageResult<R>> {
  if (source.keysetKnownIgnored) {
    yield* pageNumberWalk(source);
    return;
  }
  let cursor: number | null = null;
  let ordinal = 0;
  let readBefore = 0;
  let previous: { cursor: number | null; count: number; ids: (number | null)[] } | null = null;
  for (;;) {
    const { page, ids } = await source.fetchFirst(
      cursor === null ? { ordering: 'id' } : { ordering: 'id', id__gt: cursor },
      ordinal + 1,
    );
    let problem = keysetProblem(ids, cursor, page.next !== null);
    // Fewer records left than the page before said there would be: deletions, or a page that was
    // not the lowest ids above its cursor (an order ignored, whose pages merely look ascending).
    if (!problem && previous && page.count < previous.count - previous.ids.length) {
      problem = await pageLeftRecordsOut(source, previous, page.count);
    }
    if (problem) {
      source.onFallback(`${where(source.endpoint, ordinal + 1)}: ${problem.reason}`, problem.installation);
      yield* pageNumberWalk(source);
      return;
    }
    ordinal += 1;
    yield { ...page, page: ordinal, count: readBefore + page.count, numPages: ordinal - 1 + page.numPages };
    if (page.next === null || ids.length === 0) return;
    readBefore += ids.length;
    previous = { cursor, count: page.count, ids };
    cursor = ids[ids.length - 1]!;
  }
}

/**
 * After a shortfall, counts again the records above the previous page's cursor (one budget unit):
 * of those, the ones not above its last id (`countAfter`, just answered) lie within the page's
 * range. More of them than the page held means the page left some out, so pages are not the lowest
 * ids above their cursor and the order is not by id. Records deleted meanwhile explain a shortfall
 * without that: they leave the range smaller, not larger.
 */
async function pageLeftRecordsOut<R>(
  source: ListSource<R>,
  previous: { cursor: number | null; ids: (number | null)[] },
  countAfter: number,
): Promise<{ reason: string; installation: boolean } | null> {
  const above = await source.count(previous.cursor === null ? {} : { id__gt: previous.cursor });
  const within = above - countAfter;
  if (within <= previous.ids.length) return null;
  const last = previous.ids[previous.ids.length - 1]!;
  return {
    reason: `asked for ordering=id, but ${within} records lie between ids ${previous.cursor ?? 0} and ${last} where the page held ${previous.ids.length}: Provet ignores the ordering`,
    installation: true,
  };
}

/** Why a keyset page cannot be trusted, or null when it can. */
export function keysetProblem(
  ids: readonly (number | null)[],
  cursor: number | null,
  hasNext: boolean,
): { reason: string; installation: boolean } | null {
  if (ids.length === 0) return hasNext ? { reason: 'an empty page with a next link', installation: true } : null;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === null || id === undefined)
      return {
        reason: `record ${i + 1} of the page has no usable id, so pages cannot be chained by id`,
        installation: false,
      };
    if (i === 0 && cursor !== null && id <= cursor) {
      return { reason: `asked for ids above ${cursor}, got ${id}: Provet ignores id__gt`, installation: true };
    }
    const before = ids[i - 1];
    if (i > 0 && before !== null && before !== undefined && id <= before) {
      return {
        reason: `asked for ordering=id, got id ${id} after ${before}: Provet ignores the ordering`,
        installation: true,
      };
    }
  }
  return null;
}

/**
 * Page numbers, following `next`, with the shrink check described above. Records read twice are
 * harmless (the mirror's upsert is versioned); records skipped are what the re-reads are for.
 */
async function* pageNumberWalk<R>(source: ListSource<R>): AsyncGenerator<PageResult<R>> {
  let from = 1;
  // The largest count seen so far: a later, smaller one means records left the list meanwhile.
  let largest = -1;
  for (let round = 0; ; round++) {
    let firstFall: number | null = null;
    let shrankBy = 0;
    let lastPage = from - 1;
    let lastHadNext = false;
    const noteCount = (count: number, atPage: number) => {
      if (largest >= 0 && count < largest) {
        firstFall ??= atPage;
        shrankBy = Math.max(shrankBy, largest - count);
      }
      largest = Math.max(largest, count);
    };
    for await (const { page } of source.pagesFrom(from)) {
      noteCount(page.count, page.page);
      lastPage = page.page;
      lastHadNext = page.next !== null;
      yield page;
    }
    const fresh = await source.count();
    // Records leaving after the last page came back skip nothing: every page has been read. But a
    // walk that ended on a 404 (its last page had a next link) did not see the fall that caused it.
    if (lastHadNext) noteCount(fresh, lastPage + 1);
    if (firstFall === null) return;
    // Up to `shrankBy` records slid back from the first page read after the fall onto earlier
    // pages: they now sit at most ceil(shrankBy / pageSize) pages before it, and one more page
    // back covers a fall that happened while the page before it was being answered. Never past
    // the last page the list still has.
    const lastExisting = Math.max(1, Math.ceil(fresh / source.pageSize));
    from = Math.min(lastExisting, Math.max(1, firstFall - 1 - Math.ceil(shrankBy / source.pageSize)));
    if (round + 1 > MAX_REREADS) {
      throw new ProvetApiError(
        'PROVET_LIST_UNSTABLE',
        `${source.endpoint}: the list kept shrinking while it was read by page number (${MAX_REREADS} re-reads); records may have been skipped, so the walk is not trusted and the next run reads it again`,
        { endpoint: source.endpoint, retryable: true },
      );
    }
    source.onShrink({ shrankBy, from, round: round + 1 });
    // The re-read is judged against what the list held at the end of this round.
    largest = fresh;
  }
}
