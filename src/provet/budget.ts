// Client-side pacing: a per-endpoint rolling-window budget that mirrors Provet's
// documented limits, so that a healthy run meets few or no 429s. Waiting between
// retries (Retry-After, backoff) is retry.ts's.
import { ProvetApiError } from './errors.js';
import { abortedError, sleep, type Sleep } from './retry.js';

/**
 * Requests per rolling minute, per endpoint, from the API schema (see
 * shared/provet-docs/api-facts.md). Keys are `endpointKey` results.
 */
export const PROVET_RATE_LIMITS: Readonly<Record<string, number>> = Object.freeze({
  'GET client/': 125,
  'GET client/<id>/': 500,
  'GET patient/': 300,
  'GET patient/<id>/': 1200,
  'GET phonenumber/': 900,
  'GET custom_fields/': 100,
  'GET custom_field_values/': 100,
  'GET codelist/species/': 100,
  'GET codelist/breeds/': 100,
});

/** Page size whose requests cost one unit; larger pages cost proportionally. */
const DEFAULT_PAGE_SIZE = 50;
/** The API clamps larger page sizes to this, and charges for this. */
const MAX_PAGE_SIZE = 1000;

/**
 * The rate-limit bucket of a request. `path` is relative to the API root
 * (`client/123/`); numeric segments become `<id>`, and every custom field value
 * list (flat or nested under a client or patient) shares one bucket.
 */
export function endpointKey(method: string, path: string): string {
  const pathOnly = path.split(/[?#]/, 1)[0] ?? '';
  const segments = pathOnly.split('/').filter((s) => s !== '');
  const verb = method.toUpperCase();
  if (segments.at(-1) === 'custom_field_values') return `${verb} custom_field_values/`;
  const normalised = segments.map((s) => (/^\d+$/.test(s) ? '<id>' : s));
  return `${verb} ${normalised.map((s) => `${s}/`).join('')}`;
}

/**
 * Budget units of one request: a page of 500 counts as 10 requests of 50. Rounded
 * up, since a server that counts fractions would otherwise see us overdraw.
 */
export function requestCost(pageSize: number | undefined): number {
  if (pageSize === undefined || !Number.isFinite(pageSize) || pageSize <= 0) return 1;
  return Math.max(1, Math.ceil(Math.min(pageSize, MAX_PAGE_SIZE) / DEFAULT_PAGE_SIZE));
}

export interface RateBudgetOptions {
  /** Overrides per endpoint key; keys absent here and in PROVET_RATE_LIMITS are unlimited. */
  limits?: Partial<Record<string, number>>;
  windowMs?: number;
  /** Fraction of the server's limit we allow ourselves (default 1: the margin below keeps us under it). */
  safetyFactor?: number;
  /** A spend counts this much longer than the window (default 2% of it): requests that our clock
   *  counts out of the window may still be inside the server's (latency, clock granularity).
   *  A margin in time, unlike a smaller allowance, costs 2% of throughput whatever the page size;
   *  at page_size 1000 (cost 20 of 125) an allowance of 95% would fit 5 pages a minute instead of 6. */
  marginMs?: number;
  now?: () => number;
  sleep?: Sleep;
}

/** One request's share of a window; `at` is when it counts from. */
export interface Spend {
  at: number;
  cost: number;
}

interface Bucket {
  spent: Spend[];
  blockedUntil: number;
}

export class RateBudget {
  private readonly limits: Record<string, number | undefined>;
  private readonly windowMs: number;
  private readonly safetyFactor: number;
  private readonly marginMs: number;
  private readonly now: () => number;
  private readonly sleep: Sleep;
  private readonly buckets = new Map<string, Bucket>();

  constructor(opts: RateBudgetOptions = {}) {
    this.limits = { ...PROVET_RATE_LIMITS, ...opts.limits };
    this.windowMs = opts.windowMs ?? 60_000;
    this.safetyFactor = opts.safetyFactor ?? 1;
    this.marginMs = opts.marginMs ?? Math.ceil(this.windowMs * 0.02);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? sleep;
  }

  /** Waits until `key` has `cost` units free in the rolling window, then spends them. */
  async acquire(key: string, cost: number, signal?: AbortSignal): Promise<Spend> {
    // Bounded: every wait moves the clock forward until the oldest spend leaves
    // the window; the cap only guards against a clock that never advances.
    for (let round = 0; round < 100_000; round++) {
      if (signal?.aborted) throw abortedError(signal, `${key}: waiting for rate budget`);
      const wait = this.waitFor(key, cost);
      if (wait <= 0) {
        const spend = { at: this.now(), cost };
        this.bucket(key).spent.push(spend);
        return spend;
      }
      await this.sleep(wait, signal);
    }
    throw new ProvetApiError('PROVET_GAVE_UP', `${key}: rate budget never freed up`, { endpoint: key });
  }

  /**
   * Once the answer is in: the server counted the request at some moment before it answered, so
   * the spend counts from now. Otherwise a request that waited for a connection, or that the
   * server took up late, would leave our window before it leaves the server's.
   */
  settle(key: string, spend: Spend): void {
    spend.at = Math.max(spend.at, this.now());
    this.bucket(key).spent.sort((a, b) => a.at - b.at);
  }

  /** After a 429: nobody uses `key` until `retryAfterMs` has passed. */
  penalize(key: string, retryAfterMs: number): void {
    const bucket = this.bucket(key);
    bucket.blockedUntil = Math.max(bucket.blockedUntil, this.now() + Math.max(0, retryAfterMs));
  }

  /** Units spent on `key` in the current window (for stats and tests). */
  spent(key: string): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return 0;
    this.expire(bucket);
    return bucket.spent.reduce((sum, s) => sum + s.cost, 0);
  }

  /** Milliseconds until `cost` units fit; 0 or less means now. */
  private waitFor(key: string, cost: number): number {
    const bucket = this.bucket(key);
    const now = this.now();
    if (bucket.blockedUntil > now) return bucket.blockedUntil - now;
    const limit = this.limits[key];
    if (limit === undefined) return 0;
    const allowed = Math.max(1, Math.floor(limit * this.safetyFactor));
    this.expire(bucket);
    let used = bucket.spent.reduce((sum, s) => sum + s.cost, 0);
    // A request dearer than the whole budget may go once the window is empty,
    // otherwise it would wait forever.
    if (used === 0 || used + cost <= allowed) return 0;
    for (const s of bucket.spent) {
      used -= s.cost;
      if (used === 0 || used + cost <= allowed) return s.at + this.windowMs + this.marginMs - now + 1;
    }
    return 1;
  }

  private expire(bucket: Bucket): void {
    const horizon = this.now() - this.windowMs - this.marginMs;
    let drop = 0;
    while (drop < bucket.spent.length && (bucket.spent[drop]?.at ?? Infinity) <= horizon) drop++;
    if (drop > 0) bucket.spent.splice(0, drop);
  }

  private bucket(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { spent: [], blockedUntil: 0 };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}
