// One request to Provet with everything around it: the rate budget, auth (a 401 renews the OAuth
// token once), retries with backoff and `Retry-After`, and the request counters. Owns the undici
// pool. Which URL to ask for, and what a page means, are the client's (client.ts).
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { AuthProvider, type ProvetAuth } from './auth.js';
import { PROVET_RATE_LIMITS, RateBudget } from './budget.js';
import { backoffDelay, sleep } from './retry.js';
import { ProvetApiError, interpretStatus, safeUrl, where } from './errors.js';
import { send, type RawResponse } from './transport.js';
import { parseResponse, type ParsedResponse, type ResponseContext } from './response.js';

export interface RequesterOptions {
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

export interface RequestContext extends ResponseContext {
  /** Budget units the request spends. */
  cost: number;
}

// A truncated body is usually a transient hiccup, but one that keeps coming back is not.
const MAX_BAD_BODY_RETRIES = 3;

export class Requester {
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

  constructor(options: RequesterOptions) {
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

  /**
   * One GET with everything around it: budget, auth, retries. Each failure is
   * either retried (network, timeout, 5xx, 408, 429, truncated JSON), cured once
   * (a 401 renews the OAuth token), or thrown as it is.
   */
  async get(url: URL, ctx: RequestContext, signal: AbortSignal | undefined): Promise<ParsedResponse> {
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

  stats(): RequestStats {
    const byEndpoint: RequestStats['byEndpoint'] = {};
    for (const [key, value] of Object.entries(this.counters.byEndpoint)) byEndpoint[key] = { ...value };
    return { ...this.counters, tokenRequests: this.auth.tokenRequestCount, byEndpoint };
  }

  async close(): Promise<void> {
    await this.agent.close();
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
    return parseResponse(res, url, ctx);
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

  private endpointStats(endpoint: string): RequestStats['byEndpoint'][string] {
    let stats = this.counters.byEndpoint[endpoint];
    if (!stats) {
      stats = { requests: 0, throttled: 0, costUnits: 0 };
      this.counters.byEndpoint[endpoint] = stats;
    }
    return stats;
  }
}
