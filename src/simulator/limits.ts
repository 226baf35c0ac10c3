// Per-endpoint rate limits over a rolling window, with page-size cost: on an endpoint whose
// default page is 50 rows, page_size=500 counts as 10 requests. The window runs on the
// machine's monotonic clock (not the simulator clock), so clock-skew tests do not refill it.

/** Requests per window, from the API schema (api-facts.md). Endpoints not listed are unlimited. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, number>> = {
  'GET client/': 125,
  'GET client/<id>/': 500,
  'GET patient/': 300,
  'GET patient/<id>/': 1200,
  'GET phonenumber/': 900,
  'GET phonenumber/<id>/': 900,
  'GET custom_fields/': 100,
  'GET client/<id>/custom_field_values/': 100,
  'GET patient/<id>/custom_field_values/': 100,
  'GET codelist/species/': 100,
  'GET codelist/breeds/': 100,
};

export const DEFAULT_WINDOW_MS = 60_000;

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Spend {
  at: number;
  cost: number;
}

export class RateLimiter {
  private readonly spent = new Map<string, Spend[]>();
  readonly limits: Record<string, number>;

  constructor(
    readonly windowMs: number,
    limits: Partial<Record<string, number>> = {},
    private readonly clockMs: () => number = () => performance.now(),
  ) {
    this.limits = { ...DEFAULT_RATE_LIMITS };
    for (const [key, value] of Object.entries(limits)) if (value !== undefined) this.limits[key] = value;
  }

  /**
   * Spends `cost` on the endpoint if the window has room. A request costing more than the
   * whole limit is let through when the window is empty, or it could never succeed.
   */
  take(key: string, cost: number): RateDecision {
    const limit = this.limits[key];
    if (limit === undefined) return { allowed: true };
    const now = this.clockMs();
    const spends = this.spent.get(key) ?? [];
    const live = spends.filter((s) => s.at > now - this.windowMs);
    let used = 0;
    for (const s of live) used += s.cost;
    if (used + cost <= limit || used === 0) {
      live.push({ at: now, cost });
      this.spent.set(key, live);
      return { allowed: true };
    }
    this.spent.set(key, live);
    // Wait until enough of the oldest spends leave the window.
    let freed = 0;
    for (const s of live) {
      freed += s.cost;
      if (used - freed + cost <= limit || used - freed === 0) {
        return { allowed: false, retryAfterMs: Math.max(1, s.at + this.windowMs - now) };
      }
    }
    return { allowed: false, retryAfterMs: this.windowMs };
  }

  reset(): void {
    this.spent.clear();
  }
}

/** Retry-After in whole seconds, rounded up and at least 1 (HTTP allows no fractions). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}
