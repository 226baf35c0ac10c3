// Django REST Framework's PageNumberPagination, as the API uses it: `page` and `page_size`
// (default 50, at most 1000), absolute next/previous links that keep the other parameters.

export const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

/** DRF: a missing, non-integer, zero or negative page_size means the default; larger ones are clamped. */
export function parsePageSize(params: URLSearchParams): number {
  const text = params.get('page_size');
  if (text === null || !/^\d+$/.test(text.trim())) return DEFAULT_PAGE_SIZE;
  const size = Number(text.trim());
  if (size <= 0) return DEFAULT_PAGE_SIZE;
  return Math.min(size, MAX_PAGE_SIZE);
}

/** Python's urllib quote_plus: only letters, digits and `_.-~` stay as they are; space becomes '+'. */
function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** DRF's replace_query_param / remove_query_param: parameters come out sorted by name. */
function pageLink(origin: string, path: string, params: URLSearchParams, page: number | null): string {
  const entries: [string, string][] = [];
  for (const [key, value] of params) if (key !== 'page') entries.push([key, value]);
  if (page !== null) entries.push(['page', String(page)]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const query = entries.map(([k, v]) => `${quotePlus(k)}=${quotePlus(v)}`).join('&');
  return `${origin}${path}${query ? `?${query}` : ''}`;
}

export interface Page {
  count: number;
  numPages: number;
  /** Index of the first row of the page in the full result. */
  start: number;
  end: number;
  next: string | null;
  previous: string | null;
}

/** The page the request asks for, or null when DRF would answer 404 "Invalid page.". */
export function choosePage(count: number, params: URLSearchParams, origin: string, path: string): Page | null {
  const pageSize = parsePageSize(params);
  // An empty first page is allowed (Django's allow_empty_first_page).
  const numPages = Math.max(1, Math.ceil(count / pageSize));
  const text = params.get('page') ?? '1';
  const page = text === 'last' ? numPages : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(page) || page < 1 || page > numPages) return null;
  const start = (page - 1) * pageSize;
  return {
    count,
    numPages,
    start,
    end: Math.min(count, start + pageSize),
    next: page < numPages ? pageLink(origin, path, params, page + 1) : null,
    // DRF drops the page parameter altogether for the link back to page 1.
    previous: page > 1 ? pageLink(origin, path, params, page === 2 ? null : page - 1) : null,
  };
}

/**
 * Writes a page's JSON straight into a growing Buffer: each row's string dies young instead
 * of being kept for a join, which saves the garbage collector copying a megabyte per page.
 */
export class PageWriter {
  private buffer: Buffer;
  private length = 0;
  private rows = 0;

  constructor(page: Pick<Page, 'count' | 'numPages' | 'next' | 'previous'>, expectedBytes: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(4096, expectedBytes));
    this.append(
      `{"count":${page.count},"num_pages":${page.numPages},"next":${JSON.stringify(page.next)},` +
        `"previous":${JSON.stringify(page.previous)},"results":[`,
    );
  }

  row(json: string): void {
    if (this.rows++ > 0) this.append(',');
    this.append(json);
  }

  /** A row already encoded as UTF-8 JSON. */
  rowBytes(json: Buffer): void {
    if (this.rows++ > 0) this.append(',');
    this.reserve(json.length);
    this.length += json.copy(this.buffer, this.length);
  }

  finish(): Buffer {
    this.append(']}');
    return this.buffer.subarray(0, this.length);
  }

  private append(text: string): void {
    // UTF-8 needs at most three bytes per UTF-16 unit.
    this.reserve(text.length * 3);
    this.length += this.buffer.write(text, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
  }
}
