// The walk's decisions without I/O: which keyset pages are trusted, and how a page-number walk that
// saw the list shrink is read again. The walk over real HTTP is in test/faults/list-walk.test.ts.
import { describe, expect, it } from 'vitest';
import {
  keysetProblem,
  MAX_REREADS,
  walkList,
  type IdentifiedPage,
  type ListSource,
} from '../../src/provet/list-walk.js';
import type { PageResult } from '../../src/provet/pages.js';

describe('keysetProblem', () => {
  it('trusts ascending ids above the cursor, and an empty last page', () => {
    expect(keysetProblem([3, 4, 9], null, true)).toBeNull();
    expect(keysetProblem([11, 12], 10, false)).toBeNull();
    expect(keysetProblem([], 10, false)).toBeNull();
  });

  it('names what Provet ignored', () => {
    expect(keysetProblem([1, 2, 3], 3, true)).toEqual({
      reason: expect.stringMatching(/ignores id__gt/) as unknown,
      installation: true,
    });
    expect(keysetProblem([9, 8, 7], null, true)).toEqual({
      reason: expect.stringMatching(/ignores the ordering/) as unknown,
      installation: true,
    });
    expect(keysetProblem([4, 4], null, false)?.reason).toMatch(/ordering/);
    expect(keysetProblem([], 5, true)?.reason).toMatch(/empty page with a next link/);
  });

  it('does not blame Provet for one record without a usable id', () => {
    expect(keysetProblem([1, null, 3], null, true)).toEqual({
      reason: expect.stringMatching(/record 2 .* no usable id/) as unknown,
      installation: false,
    });
  });
});

/**
 * A list whose page-number pages are scripted: each call of pagesFrom takes the next script; each
 * round's last page has no next link unless `endedOn404` (the walk then stopped on a 404 past it).
 */
function scriptedSource(
  rounds: { from: number; counts: number[]; endedOn404?: boolean }[],
  freshCounts: number[],
): ListSource<number> & { calls: number[]; shrinks: unknown[] } {
  const calls: number[] = [];
  const shrinks: unknown[] = [];
  let round = 0;
  let fresh = 0;
  const page = (no: number, count: number, next: boolean): IdentifiedPage<number> => ({
    page: {
      endpoint: 'GET client/',
      page: no,
      url: '',
      count,
      numPages: 9,
      next: next ? 'next' : null,
      records: [no],
      serverDate: null,
    } satisfies PageResult<number>,
    ids: [no],
  });
  return {
    calls,
    shrinks,
    endpoint: 'GET client/',
    pageSize: 10,
    keysetKnownIgnored: true,
    fetchFirst: () => Promise.reject(new Error('not by id')),
    pagesFrom: async function* (from: number) {
      calls.push(from);
      const script = rounds[round++]!;
      expect(from).toBe(script.from);
      for (const [i, count] of script.counts.entries()) {
        const last = i === script.counts.length - 1;
        yield await Promise.resolve(page(from + i, count, !last || script.endedOn404 === true));
      }
    },
    count: () => Promise.resolve(freshCounts[fresh++]!),
    onFallback: () => {},
    onShrink: (details) => shrinks.push(details),
  };
}

async function drain<T>(walk: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of walk) out.push(item);
  return out;
}

describe('a page-number walk', () => {
  it('is trusted when every count, and the fresh one after it, stays the same', async () => {
    const source = scriptedSource([{ from: 1, counts: [40, 40, 40, 40] }], [40]);
    expect((await drain(walkList(source))).map((p) => p.page)).toEqual([1, 2, 3, 4]);
    expect(source.calls).toEqual([1]);
  });

  it('reads again from before the first fall, as far back as the records that left could reach', async () => {
    // 25 records left between pages 5 and 6 (pages of 10): the records at positions 50-74 now sit
    // at 25-49, pages 3 to 5; the re-read starts a page earlier still, at 2.
    const source = scriptedSource(
      [
        { from: 1, counts: [100, 100, 100, 100, 100, 75, 75, 75] },
        { from: 2, counts: [75, 75, 75, 75, 75, 75, 75] },
      ],
      [75, 75],
    );
    await drain(walkList(source));
    expect(source.calls).toEqual([1, 2]);
    expect(source.shrinks).toEqual([{ shrankBy: 25, from: 2, round: 1 }]);
  });

  it('takes a fall after the last page came back for harmless: everything was read', async () => {
    const source = scriptedSource([{ from: 1, counts: [60, 60, 60, 60, 60, 60] }], [59]);
    await drain(walkList(source));
    expect(source.calls).toEqual([1]);
  });

  it('reads the tail again when the walk ended on a 404 and only the fresh count shows the fall', async () => {
    const source = scriptedSource(
      [
        { from: 1, counts: [60, 60, 60, 60, 60], endedOn404: true },
        { from: 4, counts: [59, 59] },
      ],
      [59, 59],
    );
    await drain(walkList(source));
    expect(source.calls).toEqual([1, 4]);
  });

  it('gives up, retryably, on a list that keeps shrinking', async () => {
    const rounds = Array.from({ length: MAX_REREADS + 1 }, (_, i) => ({
      from: 1,
      counts: [50 - 2 * i, 49 - 2 * i, 49 - 2 * i],
    }));
    const source = scriptedSource(
      rounds,
      rounds.map((_, i) => 48 - 2 * i),
    );
    await expect(drain(walkList(source))).rejects.toMatchObject({ code: 'PROVET_LIST_UNSTABLE', retryable: true });
    expect(source.calls).toHaveLength(MAX_REREADS + 1);
  });
});

/** A list read by id: `state()` is Provet's list now, in Provet's own order; cursors asked are recorded. */
function keysetSource(state: () => number[], honoursOrdering = true) {
  const cursors: (number | null)[] = [];
  const counted: (number | null)[] = [];
  const fallbacks: string[] = [];
  const above = (cursor: number | null) => {
    const ids = state().filter((id) => cursor === null || id > cursor);
    return honoursOrdering ? [...ids].sort((a, b) => a - b) : ids;
  };
  const source: ListSource<number> = {
    endpoint: 'GET client/',
    pageSize: 3,
    keysetKnownIgnored: false,
    fetchFirst: (extra) => {
      const cursor = extra.id__gt === undefined ? null : Number(extra.id__gt);
      cursors.push(cursor);
      const all = above(cursor);
      const ids = all.slice(0, 3);
      return Promise.resolve({
        page: {
          endpoint: 'GET client/',
          page: 1,
          url: '',
          count: all.length,
          numPages: 1,
          next: all.length > 3 ? 'next' : null,
          records: ids,
          serverDate: null,
        },
        ids,
      });
    },
    pagesFrom: async function* () {
      yield await Promise.resolve({
        page: {
          endpoint: 'GET client/',
          page: 1,
          url: '',
          count: 0,
          numPages: 1,
          next: null,
          records: [],
          serverDate: null,
        },
        ids: [],
      });
    },
    count: (extra = {}) => {
      const cursor = extra.id__gt === undefined ? null : Number(extra.id__gt);
      counted.push(cursor);
      return Promise.resolve(above(cursor).length);
    },
    onFallback: (reason) => fallbacks.push(reason),
    onShrink: () => {},
  };
  return { source, cursors, counted, fallbacks };
}

describe('a walk by id', () => {
  it('asks for each next page above the last id, and no page twice', async () => {
    const { source, cursors, counted, fallbacks } = keysetSource(() => [2, 3, 5, 7, 11, 13, 17]);
    expect((await drain(walkList(source))).flatMap((p) => p.records)).toEqual([2, 3, 5, 7, 11, 13, 17]);
    expect(cursors).toEqual([null, 5, 13]);
    expect(counted).toEqual([]);
    expect(fallbacks).toEqual([]);
  });

  it('takes a shortfall explained by deletions for harmless, after counting again', async () => {
    let ids = [2, 3, 5, 7, 11, 13, 17];
    let pages = 0;
    const { source, counted, fallbacks } = keysetSource(() => {
      if (pages++ === 1) ids = ids.filter((id) => id !== 3 && id !== 7); // deleted after page 1
      return ids;
    });
    expect((await drain(walkList(source))).flatMap((p) => p.records)).toEqual([2, 3, 5, 11, 13, 17]);
    expect(counted).toEqual([null]);
    expect(fallbacks).toEqual([]);
  });

  it('falls back when pages that look ascending were not the lowest ids (an ignored order by created)', async () => {
    // Provet's own order puts 4 last: the first page, 2, 3, 5, ascends but leaves 4 out.
    const { source, fallbacks } = keysetSource(() => [2, 3, 5, 7, 9, 11, 4], false);
    await drain(walkList(source));
    expect(fallbacks).toEqual([
      expect.stringMatching(/4 records lie between ids 0 and 5 where the page held 3: Provet ignores the ordering/),
    ]);
  });
});
