// The Provet REST API client: the URLs of an API root, list pages and walks over them, and the
// memory of filters Provet ignores. Each request, with its budget, auth and retries, is the
// requester's (requester.ts); a response's parsing and its page envelope, response.ts's.
import type { Logger } from 'pino';
import { ProvetApiError, safeUrl, where } from './errors.js';
import { endpointKey, requestCost } from './budget.js';
import { IgnoredFilters, KEYSET } from './ignored-filters.js';
import { isUnderBase, looksLikeEnvelope, normaliseBaseUrl, pageNumberOf, walkPages, type PageResult } from './pages.js';
import { walkList, type IdentifiedPage } from './list-walk.js';
import type { RecordDecoder } from './raw-records.js';
import { Requester, type RequesterOptions, type RequestStats } from './requester.js';
import { toPageResult } from './response.js';

export type { PageResult } from './pages.js';
export type { RequestStats } from './requester.js';

export interface ProvetClientOptions extends RequesterOptions {
  /** API root ending in '/api/0.1/' (a missing trailing slash is added). */
  baseUrl: string;
}

type Query = Record<string, string | number | boolean>;

export class ProvetClient {
  private readonly base: URL;
  private readonly requester: Requester;
  private readonly logger: Logger;
  private readonly ignoredFilters = new IgnoredFilters();

  constructor(options: ProvetClientOptions) {
    this.base = normaliseBaseUrl(options.baseUrl);
    this.logger = options.logger;
    this.requester = new Requester(options);
  }

  /** GET one page of a list endpoint; `page` in `query` defaults to 1. */
  async getPage(path: string, query: Query, options: { signal?: AbortSignal } = {}): Promise<PageResult> {
    const url = this.resolve(path, query);
    return this.fetchPage(url, this.pageOf(url), options.signal);
  }

  /**
   * Lazily walks a list from `path`+`query`, following `next` only under the API root. With
   * `decodeRecord`, a page's records are what it made of each (raw-records.ts says why).
   */
  pages<R>(
    path: string,
    query: Query,
    options: { pageSize?: number; signal?: AbortSignal; decodeRecord: RecordDecoder<R> },
  ): AsyncGenerator<PageResult<R>>;
  pages(path: string, query: Query, options?: { pageSize?: number; signal?: AbortSignal }): AsyncGenerator<PageResult>;
  async *pages(
    path: string,
    query: Query,
    options: { pageSize?: number; signal?: AbortSignal; decodeRecord?: RecordDecoder<unknown> } = {},
  ): AsyncGenerator<PageResult> {
    const url = this.resolve(path, options.pageSize === undefined ? query : { ...query, page_size: options.pageSize });
    const { signal, decodeRecord } = options;
    yield* walkPages(url, {
      base: this.base,
      endpoint: this.endpointOf(url),
      fetchPage: (pageUrl, page) => this.fetchPage(pageUrl, page, signal, decodeRecord),
      onPastEnd: (page) =>
        this.logger.warn(
          { endpoint: this.endpointOf(url), page },
          'page past the end answered 404; list shrank during the walk',
        ),
    });
  }

  /**
   * Reads a whole list so that no record is skipped: by id (`ordering=id`, then `id__gt=<last id>`),
   * each page checked before it is yielded, or by page number where Provet shows that it ignores
   * `id__gt` or the order (list-walk.ts says how, and what is then done about records leaving the
   * list meanwhile). A page's `page` counts the walk's pages; `count` estimates the whole list.
   */
  walk<R>(
    path: string,
    query: Query,
    options: { pageSize: number; signal?: AbortSignal; decodeRecord: RecordDecoder<R> },
  ): AsyncGenerator<PageResult<R>>;
  walk(path: string, query: Query, options: { pageSize: number; signal?: AbortSignal }): AsyncGenerator<PageResult>;
  walk(
    path: string,
    query: Query,
    options: { pageSize: number; signal?: AbortSignal; decodeRecord?: RecordDecoder<unknown> },
  ): AsyncGenerator<PageResult> {
    for (const reserved of ['id__gt', 'ordering', 'page', 'page_size']) {
      if (reserved in query) throw new RangeError(`walk: ${reserved} is the walk's own parameter`);
    }
    const { pageSize, signal } = options;
    const inner = options.decodeRecord;
    const base: Query = { ...query, page_size: pageSize };
    const endpoint = this.endpointOf(this.resolve(path, base));
    // Each record's id as sent, taken beside the caller's decoder (which may make anything of it).
    const decodeRecord: RecordDecoder<Identified> = (record, sent) => ({
      id: usableId(record),
      value: inner ? inner(record, sent) : record,
    });
    const identified = (page: PageResult): IdentifiedPage<unknown> => {
      const records = page.records as Identified[];
      return { page: { ...page, records: records.map((r) => r.value) }, ids: records.map((r) => r.id) };
    };
    const logger = this.logger.child({ endpoint });
    return walkList<unknown>({
      endpoint,
      pageSize,
      // A path seen ignoring `id__gt` or `ordering` is walked by page number from then on.
      keysetKnownIgnored: this.ignoresFilter(path, KEYSET),
      fetchFirst: async (extra, ordinal) =>
        identified(await this.fetchPage(this.resolve(path, { ...base, ...extra }), ordinal, signal, decodeRecord)),
      pagesFrom: async function* (this: ProvetClient, from: number) {
        const first = this.resolve(path, { ...base, ordering: 'id', ...(from > 1 ? { page: from } : {}) });
        const pages = walkPages(first, {
          base: this.base,
          endpoint,
          fetchPage: (pageUrl, pageNo) => this.fetchPage(pageUrl, pageNo, signal, decodeRecord),
          onPastEnd: (page) => logger.warn({ page }, 'page past the end answered 404; the list shrank during the walk'),
        });
        for await (const page of pages) yield identified(page);
      }.bind(this),
      count: async (extra = {}) =>
        (await this.getPage(path, { ...query, ...extra, page_size: 1 }, signal ? { signal } : {})).count,
      onFallback: (reason, installation) => {
        if (installation) {
          // Once per endpoint and process: later walks go straight to page numbers.
          this.noteIgnoredFilter(path, KEYSET);
          logger.warn(
            { reason },
            `${reason}; reading ${endpoint} by page number from now on (each walk is checked for records leaving the list meanwhile and read again where they may have been skipped)`,
          );
        } else {
          logger.warn({ reason }, `${reason}; reading this list by page number`);
        }
      },
      onShrink: ({ shrankBy, from, round }) =>
        logger.warn(
          { shrankBy, from, round },
          `the list shrank by ${shrankBy} while it was read by page number; reading it again from page ${from}`,
        ),
    });
  }

  /**
   * Remembers for this process that Provet ignores `filter` on `path` (a caller saw records outside
   * it), so later reads go straight to their fallback. True the first time: the caller warns then.
   */
  noteIgnoredFilter(path: string, filter: string): boolean {
    return this.ignoredFilters.note(path, filter);
  }

  ignoresFilter(path: string, filter: string): boolean {
    return this.ignoredFilters.has(path, filter);
  }

  /** A list that may come as an envelope (pages followed) or as a bare array. */
  async getAll(
    path: string,
    query: Query = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<{ records: unknown[]; serverDate: Date | null }> {
    const url = this.resolve(path, query);
    const endpoint = this.endpointOf(url);
    const page = this.pageOf(url);
    const first = await this.requester.get(url, { endpoint, page, cost: this.costOf(url) }, options.signal);
    if (Array.isArray(first.body)) return { records: first.body, serverDate: first.serverDate };
    if (!looksLikeEnvelope(first.body)) {
      throw new ProvetApiError(
        'PROVET_BAD_PAGE',
        `${where(endpoint, page)}: response is neither a list nor a page envelope`,
        {
          endpoint,
          page,
          url: safeUrl(url),
        },
      );
    }
    const records: unknown[] = [];
    const walk = walkPages(url, {
      base: this.base,
      endpoint,
      firstPage: toPageResult(first, url, endpoint, page),
      fetchPage: (pageUrl, pageNo) => this.fetchPage(pageUrl, pageNo, options.signal),
    });
    for await (const p of walk) for (const record of p.records) records.push(record);
    return { records, serverDate: first.serverDate };
  }

  /** GET any resource under the API root and return its parsed JSON. */
  async getJson(
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ body: unknown; serverDate: Date | null }> {
    const url = this.resolve(path, {});
    const { body, serverDate } = await this.requester.get(
      url,
      { endpoint: this.endpointOf(url), cost: 1 },
      options.signal,
    );
    return { body, serverDate };
  }

  stats(): RequestStats {
    return this.requester.stats();
  }

  async close(): Promise<void> {
    await this.requester.close();
  }

  private async fetchPage(
    url: URL,
    page: number,
    signal: AbortSignal | undefined,
    decodeRecord?: RecordDecoder<unknown>,
  ): Promise<PageResult> {
    const endpoint = this.endpointOf(url);
    const res = await this.requester.get(
      url,
      { endpoint, page, cost: this.costOf(url), ...(decodeRecord ? { decodeRecord } : {}) },
      signal,
    );
    return toPageResult(res, url, endpoint, page, decodeRecord);
  }

  /** `path` (relative to the API root) plus `query`; refuses anything outside the root. */
  private resolve(path: string, query: Query): URL {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
    if (!isUnderBase(url, this.base)) {
      throw new ProvetApiError(
        'PROVET_OFF_ORIGIN',
        `refusing to request ${url.origin}${url.pathname}: not under the API root`,
        {},
      );
    }
    return url;
  }

  private pageOf(url: URL): number {
    const page = pageNumberOf(url);
    if (page === null) throw new RangeError(`page must be a positive integer, got ${url.searchParams.get('page')}`);
    return page;
  }

  private endpointOf(url: URL): string {
    return endpointKey('GET', url.pathname.slice(this.base.pathname.length));
  }

  private costOf(url: URL): number {
    const size = Number(url.searchParams.get('page_size'));
    return requestCost(Number.isFinite(size) && size > 0 ? size : undefined);
  }
}

/** A walked record: its id as sent beside what the caller's decoder made of it. */
interface Identified {
  id: number | null;
  value: unknown;
}

/** A record's `id` when it is a positive safe integer, else null. */
function usableId(record: unknown): number | null {
  if (typeof record !== 'object' || record === null) return null;
  const id = (record as { id?: unknown }).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : null;
}
