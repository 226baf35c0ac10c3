// Pagination: the strict envelope check, the guard on `next` links, and the lazy
// walk from page to page. Records inside `results` are the caller's business: left
// as parsed, or turned into rows by the caller's decoder (raw-records.ts); their
// schemas (records.ts) are lenient and belong to the caller.
import { z } from 'zod';
import { ProvetApiError, isProvetApiError, where } from './errors.js';

/** One page of a list; its records as parsed, or as the walk's decoder made them (raw-records.ts). */
export interface PageResult<R = unknown> {
  endpoint: string;
  page: number;
  url: string;
  count: number;
  numPages: number;
  next: string | null;
  records: R[];
  serverDate: Date | null;
}

const linkSchema = z.union([z.url(), z.null()]);

/** `{count, num_pages, next, previous, results}`, checked strictly. */
const pageEnvelopeSchema = z.object({
  count: z.number().int().min(0),
  num_pages: z.number().int().min(0),
  next: linkSchema,
  previous: linkSchema,
  results: z.array(z.unknown()),
});

export type PageEnvelope = z.infer<typeof pageEnvelopeSchema>;

/** Whether a JSON body looks like an envelope at all (vs a bare array of records). */
export function looksLikeEnvelope(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'results' in body;
}

/** Validates an envelope; the error names the endpoint, the page and the first problem. */
export function parseEnvelope(body: unknown, endpoint: string, page: number, url: string): PageEnvelope {
  const parsed = pageEnvelopeSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || '(root)';
  const top = issue?.path[0];
  const missing =
    issue?.path.length === 1 && typeof top === 'string' && typeof body === 'object' && body !== null && !(top in body);
  const problem = missing ? `${field} is missing` : `${field}: ${issue?.message ?? 'invalid'}`;
  throw new ProvetApiError('PROVET_BAD_PAGE', `${where(endpoint, page)}: response is not a page envelope: ${problem}`, {
    endpoint,
    page,
    url,
    cause: parsed.error,
  });
}

/** The API root with exactly one trailing slash; rejects anything but http(s). */
export function normaliseBaseUrl(baseUrl: string): URL {
  const url = new URL(baseUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RangeError(`Provet base URL must be http(s), got ${url.protocol}`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * Whether `candidate` lies under the API root: same scheme, host and port, and a
 * path below the root's (so another installation's `/<provet_id>/api/0.1/` on the
 * same host is refused too).
 */
export function isUnderBase(candidate: URL, base: URL): boolean {
  return (
    candidate.origin === base.origin &&
    candidate.pathname.startsWith(base.pathname) &&
    !candidate.pathname.split('/').includes('..') &&
    candidate.username === '' &&
    candidate.password === ''
  );
}

/**
 * Resolves a `next` link and refuses it unless it is under the API root: following
 * a link elsewhere would send our Authorization header to whoever wrote it.
 */
export function guardNext(next: string, base: URL, endpoint: string, page: number): URL {
  let url: URL;
  try {
    url = new URL(next, base);
  } catch (cause) {
    throw new ProvetApiError('PROVET_BAD_PAGE', `${where(endpoint, page)}: next is not a URL`, {
      endpoint,
      page,
      cause,
    });
  }
  if (!isUnderBase(url, base)) {
    const elsewhere = url.origin === base.origin ? `${url.origin} outside ${base.pathname}` : url.origin;
    throw new ProvetApiError(
      'PROVET_OFF_ORIGIN',
      `${where(endpoint, page)}: refusing to follow next link to ${elsewhere}: it is not under the configured API root ${base.origin}${base.pathname}`,
      { endpoint, page },
    );
  }
  return url;
}

/** The `page` query parameter, 1 when absent; null when present but not a positive integer. */
export function pageNumberOf(url: URL): number | null {
  const raw = url.searchParams.get('page');
  if (raw === null) return 1;
  return /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : null;
}

export interface WalkOptions {
  base: URL;
  endpoint: string;
  /** Fetches and validates one page. */
  fetchPage: (url: URL, page: number) => Promise<PageResult>;
  /** A page already fetched at `first` (getAll's probe), yielded without fetching again. */
  firstPage?: PageResult;
  /** Safety bound on one walk. */
  maxPages?: number;
  onPastEnd?: (page: number) => void;
}

/**
 * Yields pages lazily from `first`, following `next` while it stays under the API
 * root, refusing loops (a URL seen before, or a page number that does not grow).
 * A 404 ends the walk only on the page right after the last one received: rows
 * removed mid-run can shrink the list under us, but a 404 elsewhere is an error.
 */
export async function* walkPages(first: URL, options: WalkOptions): AsyncGenerator<PageResult> {
  const { base, endpoint, fetchPage } = options;
  const maxPages = options.maxPages ?? 1_000_000;
  const visited = new Set<string>();
  let url = first;
  let pageNo = pageNumberOf(first) ?? 1;
  let previous: PageResult | undefined;
  for (let walked = 0; walked < maxPages; walked++) {
    visited.add(url.href);
    let page: PageResult;
    if (walked === 0 && options.firstPage) {
      page = options.firstPage;
    } else {
      try {
        page = await fetchPage(url, pageNo);
      } catch (err) {
        if (previous && pageNo === previous.page + 1 && isProvetApiError(err) && err.status === 404) {
          options.onPastEnd?.(pageNo);
          return;
        }
        throw err;
      }
    }
    yield page;
    if (page.next === null) return;
    const nextUrl = guardNext(page.next, base, endpoint, pageNo);
    const nextNo = pageNumberOf(nextUrl);
    if (visited.has(nextUrl.href) || nextNo === null || nextNo <= pageNo) {
      throw new ProvetApiError(
        'PROVET_BAD_PAGE',
        `${where(endpoint, pageNo)}: next link loops back (to page ${nextNo ?? '?'}); refusing to walk in circles`,
        { endpoint, page: pageNo },
      );
    }
    previous = page;
    url = nextUrl;
    pageNo = nextNo;
  }
  throw new ProvetApiError('PROVET_BAD_PAGE', `${endpoint}: more than ${maxPages} pages; giving up`, { endpoint });
}
