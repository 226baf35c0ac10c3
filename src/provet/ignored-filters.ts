// What this process has learnt about filters Provet ignores on an endpoint. An installation that
// ignores one ignores it on every request, so once a caller has seen it, later reads go straight
// to their fallback instead of paying to find out again (and warning again).

/** The filters a walk by id depends on (`id__gt` and `ordering`), as one entry. */
export const KEYSET = 'id__gt/ordering';

export class IgnoredFilters {
  /** `<path> <filter>` pairs. */
  private readonly seen = new Set<string>();

  /** Notes that Provet ignores `filter` on `path`; true the first time, when the caller warns. */
  note(path: string, filter: string): boolean {
    const key = `${path} ${filter}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  has(path: string, filter: string): boolean {
    return this.seen.has(`${path} ${filter}`);
  }
}
