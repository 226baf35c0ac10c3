// Network and server trouble on demand, per endpoint key or globally. Decisions come from a
// seeded generator, so a test that makes the same requests in the same order sees the same
// faults every run.
import { Random, hashInts } from './random.js';

export interface FaultSettings {
  /** Added before the request is handled. */
  latencyMs?: number;
  /** Share (0..1) answered 500/502/503 before the request reaches the application. */
  errorRate?: number;
  /** Share whose connection is destroyed after handling, before any answer is sent. */
  dropRate?: number;
  /** Share whose body is cut: the full Content-Length is announced, part is sent, the socket closes. */
  truncateRate?: number;
  /** The body is dribbled out in pieces over this long. */
  slowBodyMs?: number;
}

export interface FaultPlan {
  latencyMs: number;
  errorStatus: number | null;
  drop: boolean;
  truncate: boolean;
  slowBodyMs: number;
}

const NO_FAULTS: FaultPlan = { latencyMs: 0, errorStatus: null, drop: false, truncate: false, slowBodyMs: 0 };
const ERROR_STATUSES = [500, 502, 503];

export class Faults {
  private global: FaultSettings | null = null;
  private readonly perEndpoint = new Map<string, FaultSettings>();
  private readonly random: Random;

  constructor(seed: number) {
    this.random = new Random(hashInts(seed, 0xfa017));
  }

  /** Sets or (with null) clears the faults of 'global' or of one endpoint key such as 'GET client/'. */
  set(scope: string, faults: FaultSettings | null): void {
    if (scope === 'global') this.global = faults;
    else if (faults === null) this.perEndpoint.delete(scope);
    else this.perEndpoint.set(scope, faults);
  }

  /** The endpoint's settings win over the global ones, field by field. */
  settingsFor(key: string): FaultSettings {
    return { ...(this.global ?? {}), ...(this.perEndpoint.get(key) ?? {}) };
  }

  plan(key: string): FaultPlan {
    if (this.global === null && !this.perEndpoint.has(key)) return NO_FAULTS;
    const s = this.settingsFor(key);
    const roll = (rate: number | undefined) => rate !== undefined && rate > 0 && this.random.next() < rate;
    const error = roll(s.errorRate);
    return {
      latencyMs: Math.max(0, s.latencyMs ?? 0),
      errorStatus: error ? this.random.pick(ERROR_STATUSES) : null,
      drop: !error && roll(s.dropRate),
      truncate: !error && roll(s.truncateRate),
      slowBodyMs: Math.max(0, s.slowBodyMs ?? 0),
    };
  }
}
