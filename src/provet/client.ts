// The Provet REST API client: GET requests on an undici keep-alive pool with auth,
// per-attempt timeouts, retries with capped exponential backoff, `Retry-After`,
// a per-endpoint rate budget, and strict page envelopes. Knows HTTP only.
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { AuthProvider, type ProvetAuth } from './auth.js';
import { PROVET_RATE_LIMITS, RateBudget, endpointKey, requestCost } from './budget.js';
import { backoffDelay, sleep } from './retry.js';
import { ProvetApiError, interpretStatus, safeUrl, where } from './errors.js';
import { send, type RawResponse } from './transport.js';
import {
  isUnderBase,
  looksLikeEnvelope,
  normaliseBaseUrl,
  pageNumberOf,
  parseEnvelope,
  walkPages,
  type PageResult,
} from './pages.js';
import { walkList, type IdentifiedPage } from './list-walk.js';
import { DecoderFailedError, parseBodyInSlices, type RecordDecoder } from './raw-records.js';

export type { PageResult } from './pages.js';

export interface ProvetClientOptions {
  /** API root ending in '/api/0.1/' (a missing trailing slash is added). */
  baseUrl: string;
  auth: ProvetAuth;
  logger: Logger;
  /** Per attempt, covering headers and the whole body. Default 30 s. */
  requestTimeoutMs?: number;
  /** Total time one request may spend retrying before PROVET_GAVE_UP. Default 180 s. */
  retryDeadlineMs?: number;
  /** Default 8. */
  maxRetries?: number;
  /** Default 64 MiB; a larger body fails with PROVET_BODY_TOO_LARGE. */
  maxBodyBytes?: number;
  /** Keep-alive connections per origin. Default 4. */
  connections?: number;
  rateLimits?: Partial<Record<string, number>>;
  rateWindowMs?: number;
  /** Fraction of the documented limits the budget allows itself. Default 1 (a time margin keeps it under). */
  rateSafetyFactor?: number;
  userAgent?: string;
  /** First backoff step (default 500 ms) and its cap (default 30 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

export interface RequestStats {
  requests: number;
  throttled: number;
  retries: number;
  /** OAuth token requests (0 with the legacy token). */
  tokenRequests: number;
  byEndpoint: Record<string, { requests: number; throttled: number; costUnits: number }>;
}

type Query = Record<string, string | number | boolean>;

interface RequestContext {
  endpoint: string;
  page?: number;
  cost: number;
  /** For list pages read with a decoder: each record goes through it as soon as it is parsed. */
  decodeRecord?: RecordDecoder<unknown>;
}

// A truncated body is usually a transient hiccup, but one that keeps coming back is not.
const MAX_BAD_BODY_RETRIES = 3;

export class ProvetClient {
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly auth: AuthProvider;
  private readonly budget: RateBudget;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly retryDeadlineMs: number;
  private readonly maxRetries: number;
  private readonly maxBodyBytes: number;
  private readonly userAgent: string;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly counters: Omit<RequestStats, 'tokenRequests'> = {
    requests: 0,
    throttled: 0,
    retries: 0,
    byEndpoint: {},
  };
  /** `<path> <filter>` pairs a caller found Provet ignoring (see noteIgnoredFilter). */
  private readonly ignoredFilters = new Set<string>();

  constructor(options: ProvetClientOptions) {
    this.base = normaliseBaseUrl(options.baseUrl);
    this.logger = options.logger;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.retryDeadlineMs = options.retryDeadlineMs ?? 180_000;
    this.maxRetries = options.maxRetries ?? 8;
    this.maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
    this.userAgent = options.userAgent ?? 'provet-sync';
    this.backoffBaseMs = options.backoffBaseMs ?? 500;
    this.backoffCapMs = options.backoffCapMs ?? 30_000;
    this.agent = new Agent({ connections: options.connections ?? 4, keepAliveTimeout: 10_000 });
    this.budget = new RateBudget({
      limits: { ...PROVET_RATE_LIMITS, ...options.rateLimits },
      ...(options.rateWindowMs === undefined ? {} : { windowMs: options.rateWindowMs }),
      ...(options.rateSafetyFactor === undefined ? {} : { safetyFactor: options.rateSafetyFactor }),
    });
    this.auth = new AuthProvider(options.auth, async (url, headers, body) => {
      const res = await this.sendOnce(
        url,
        'POST',
        { ...headers, 'user-agent': this.userAgent },
        body,
        `POST ${url.pathname}`,
      );
      return { status: res.status, text: res.body.toString('utf8') };
    });
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
    const key = `${path} ${filter}`;
    if (this.ignoredFilters.has(key)) return false;
    this.ignoredFilters.add(key);
    return true;
  }

  ignoresFilter(path: string, filter: string): boolean {
    return this.ignoredFilters.has(`${path} ${filter}`);
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
    const first = await this.getWithRetries(url, { endpoint, page, cost: this.costOf(url) }, options.signal);
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
      firstPage: this.toPageResult(first, url, endpoint, page),
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
    const { body, serverDate } = await this.getWithRetries(
      url,
      { endpoint: this.endpointOf(url), cost: 1 },
      options.signal,
    );
    return { body, serverDate };
  }

  stats(): RequestStats {
    const byEndpoint: RequestStats['byEndpoint'] = {};
    for (const [key, value] of Object.entries(this.counters.byEndpoint)) byEndpoint[key] = { ...value };
    return { ...this.counters, tokenRequests: this.auth.tokenRequestCount, byEndpoint };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async fetchPage(
    url: URL,
    page: number,
    signal: AbortSignal | undefined,
    decodeRecord?: RecordDecoder<unknown>,
  ): Promise<PageResult> {
    const endpoint = this.endpointOf(url);
    const res = await this.getWithRetries(
      url,
      { endpoint, page, cost: this.costOf(url), ...(decodeRecord ? { decodeRecord } : {}) },
      signal,
    );
    return this.toPageResult(res, url, endpoint, page, decodeRecord);
  }

  private toPageResult(
    { body, decoded, serverDate }: ParsedResponse,
    url: URL,
    endpoint: string,
    page: number,
    decodeRecord?: RecordDecoder<unknown>,
  ): PageResult {
    const envelope = parseEnvelope(body, endpoint, page, safeUrl(url));
    // Records the scan could not tell apart were parsed with the whole body: decoded here, without their bytes.
    const records =
      decodeRecord && !decoded ? envelope.results.map((record) => decodeRecord(record, undefined)) : envelope.results;
    return {
      endpoint,
      page,
      url: safeUrl(url),
      count: envelope.count,
      numPages: envelope.num_pages,
      next: envelope.next,
      records,
      serverDate,
    };
  }

  /**
   * One GET with everything around it: budget, auth, retries. Each failure is
   * either retried (network, timeout, 5xx, 408, 429, truncated JSON), cured once
   * (a 401 renews the OAuth token), or thrown as it is.
   */
  private async getWithRetries(
    url: URL,
    ctx: RequestContext,
    signal: AbortSignal | undefined,
  ): Promise<ParsedResponse> {
    // The deadline runs from the first attempt: waiting for the budget is pacing, not retrying.
    let started: number | undefined;
    let renewedAfter401 = false;
    let badBodies = 0;
    for (let attempt = 0; attempt <= this.maxRetries + 1; attempt++) {
      const spend = await this.budget.acquire(ctx.endpoint, ctx.cost, signal);
      started ??= Date.now();
      let authHeader: string | undefined;
      try {
        authHeader = await this.auth.header(signal);
        const result = await this.attemptGet(url, ctx, authHeader, signal);
        this.budget.settle(ctx.endpoint, spend);
        return result;
      } catch (err) {
        this.budget.settle(ctx.endpoint, spend);
        if (!(err instanceof ProvetApiError)) throw err;
        if (err.code === 'PROVET_AUTH' && err.status === 401 && authHeader !== undefined) {
          if (this.auth.renewable && !renewedAfter401) {
            this.auth.invalidate(authHeader);
            renewedAfter401 = true;
            this.logger.warn({ endpoint: ctx.endpoint, page: ctx.page }, 'HTTP 401: renewing the OAuth token once');
            continue;
          }
          throw this.unauthorized(url, ctx, err);
        }
        if (!err.retryable) throw err;
        if (err.code === 'PROVET_BAD_PAGE' && ++badBodies > MAX_BAD_BODY_RETRIES) {
          throw this.gaveUp(url, ctx, err, `${badBodies} malformed bodies`);
        }
        const delay = this.retryDelay(err, ctx, attempt);
        if (attempt >= this.maxRetries) throw this.gaveUp(url, ctx, err, `${attempt + 1} attempts`);
        if (Date.now() - started + delay > this.retryDeadlineMs) {
          throw this.gaveUp(url, ctx, err, `the ${this.retryDeadlineMs} ms retry deadline`);
        }
        this.counters.retries++;
        this.logger.warn(
          {
            endpoint: ctx.endpoint,
            page: ctx.page,
            attempt: attempt + 1,
            reason: err.code,
            status: err.status,
            delayMs: delay,
          },
          `retrying Provet request: ${err.message}`,
        );
        // After a 429 the budget's penalty does the waiting, for every caller of that endpoint.
        if (err.status !== 429) await sleep(delay, signal);
      }
    }
    throw new ProvetApiError('PROVET_GAVE_UP', `${where(ctx.endpoint, ctx.page)}: retries exhausted`, {
      endpoint: ctx.endpoint,
      retryable: true,
    });
  }

  private retryDelay(err: ProvetApiError, ctx: RequestContext, attempt: number): number {
    const backoff = backoffDelay(attempt, this.backoffBaseMs, this.backoffCapMs);
    if (err.status !== 429) return Math.max(err.retryAfterMs ?? 0, backoff);
    const wait = err.retryAfterMs ?? backoff;
    this.counters.throttled++;
    this.endpointStats(ctx.endpoint).throttled++;
    this.budget.penalize(ctx.endpoint, wait);
    return wait;
  }

  private async attemptGet(
    url: URL,
    ctx: RequestContext,
    authHeader: string,
    signal: AbortSignal | undefined,
  ): Promise<ParsedResponse> {
    const stats = this.endpointStats(ctx.endpoint);
    this.counters.requests++;
    stats.requests++;
    stats.costUnits += ctx.cost;
    const started = performance.now();
    const headers = { authorization: authHeader, accept: 'application/json', 'user-agent': this.userAgent };
    const res = await this.sendOnce(url, 'GET', headers, undefined, where(ctx.endpoint, ctx.page), signal);
    this.logger.debug(
      { endpoint: ctx.endpoint, page: ctx.page, status: res.status, ms: Math.round(performance.now() - started) },
      'provet request',
    );
    interpretStatus(res, url, ctx.endpoint, ctx.page);
    try {
      const { value, decoded } = await parseBodyInSlices(res.body, ctx.decodeRecord);
      return { body: value, decoded, serverDate: res.serverDate };
    } catch (cause) {
      if (cause instanceof DecoderFailedError) throw cause.error;
      throw new ProvetApiError(
        'PROVET_BAD_PAGE',
        `${where(ctx.endpoint, ctx.page)}: response is not valid JSON (${res.body.length} bytes)`,
        {
          retryable: true,
          endpoint: ctx.endpoint,
          ...(ctx.page === undefined ? {} : { page: ctx.page }),
          url: safeUrl(url),
          status: res.status,
          cause,
        },
      );
    }
  }

  private sendOnce(
    url: URL,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body: string | undefined,
    label: string,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    return send(this.agent, {
      url,
      method,
      headers,
      body,
      label,
      timeoutMs: this.timeoutMs,
      maxBodyBytes: this.maxBodyBytes,
      signal,
    });
  }

  private unauthorized(url: URL, ctx: RequestContext, cause: ProvetApiError): ProvetApiError {
    const why = this.auth.renewable ? 'again right after renewing the OAuth token' : 'the API token was rejected';
    return new ProvetApiError('PROVET_AUTH', `${where(ctx.endpoint, ctx.page)}: HTTP 401, ${why}`, {
      endpoint: ctx.endpoint,
      ...(ctx.page === undefined ? {} : { page: ctx.page }),
      url: safeUrl(url),
      status: 401,
      cause,
    });
  }

  /** Retryable: the request failed for transient reasons, and a later run may well succeed. */
  private gaveUp(url: URL, ctx: RequestContext, last: ProvetApiError, after: string): ProvetApiError {
    return new ProvetApiError(
      'PROVET_GAVE_UP',
      `${where(ctx.endpoint, ctx.page)}: gave up after ${after}; last error: ${last.message}`,
      {
        retryable: true,
        endpoint: ctx.endpoint,
        ...(ctx.page === undefined ? {} : { page: ctx.page }),
        url: safeUrl(url),
        ...(last.status === undefined ? {} : { status: last.status }),
        cause: last,
      },
    );
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

  private endpointStats(endpoint: string): RequestStats['byEndpoint'][string] {
    let stats = this.counters.byEndpoint[endpoint];
    if (!stats) {
      stats = { requests: 0, throttled: 0, costUnits: 0 };
      this.counters.byEndpoint[endpoint] = stats;
    }
    return stats;
  }
}

/** The filters a walk by id depends on (`id__gt` and `ordering`), as one entry of noteIgnoredFilter. */
const KEYSET = 'id__gt/ordering';

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

/** A response's JSON; `decoded` when its `results` went through the request's decoder. */
interface ParsedResponse {
  body: unknown;
  decoded: boolean;
  serverDate: Date | null;
}
