// The daemon's in-process turn-taking for runs. The database's run lock keeps other processes
// out, but it is first come, first served: a steady stream of webhook hints used to take it
// back-to-back, a poll tick that found it taken was skipped, and reconcile gave up after its
// retries. Inside one daemon the runs are ours to order, so they take turns here before they
// ask for the lock:
// - a scheduled run (the poll, reconcile) waits its turn: it starts as soon as the run in
//   progress here ends, and while it waits no webhook batch may start, so it waits for at most
//   the one batch in flight (batches are small: see HintQueue's maxPerRun);
// - a webhook batch only starts when nothing runs here and no scheduled run waits; otherwise it
//   is told "not now" and is woken when the gate is free again (whenFree).
// Scheduled runs among themselves go first come, first served.
import type { Logger } from '../log.js';

/** What a scheduled run returns when the daemon was asked to stop while it waited its turn. */
export const STOPPED_BEFORE_TURN = { status: 'stopped' } as const;

export class RunGate {
  private holder: string | null = null;
  private readonly waiting: { name: string; enter: () => void }[] = [];
  private freeWaiters: (() => void)[] = [];

  constructor(private readonly logger?: Logger) {}

  /** What runs now in this process ('poll', 'reconcile', 'webhook'), or null. */
  get running(): string | null {
    return this.holder;
  }

  /** How many scheduled runs wait for their turn. */
  get scheduledWaiting(): number {
    return this.waiting.length;
  }

  /**
   * Runs `fn` once every run ahead of it in this process has ended; webhook batches do not start
   * meanwhile. When `signal` aborted while it waited, `fn` is not run at all.
   */
  async scheduled<T>(
    name: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T | typeof STOPPED_BEFORE_TURN> {
    await this.enter(name);
    try {
      if (signal?.aborted) return STOPPED_BEFORE_TURN;
      return await fn();
    } finally {
      this.leave();
    }
  }

  /**
   * Starts a webhook batch at once when nothing runs here and no scheduled run waits; otherwise
   * null (nothing was started: try again once whenFree() resolves).
   */
  tryWebhook<T>(fn: () => Promise<T>): Promise<T> | null {
    if (this.holder !== null || this.waiting.length > 0) return null;
    this.holder = 'webhook';
    let run: Promise<T>;
    try {
      run = fn();
    } catch (err) {
      run = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return run.finally(() => this.leave());
  }

  /** Resolves the next time nothing runs here and no scheduled run waits (at once if so now). */
  whenFree(): Promise<void> {
    if (this.holder === null && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.freeWaiters.push(resolve));
  }

  private enter(name: string): Promise<void> {
    if (this.holder === null && this.waiting.length === 0) {
      this.holder = name;
      return Promise.resolve();
    }
    this.logger?.info(
      { run: name, waitingFor: this.holder },
      `${name} waits for the ${this.holder ?? 'earlier'} run in progress to end`,
    );
    return new Promise((resolve) => this.waiting.push({ name, enter: resolve }));
  }

  private leave(): void {
    // Handed straight to the next scheduled run: a webhook batch cannot slip in between.
    const next = this.waiting.shift();
    if (next) {
      this.holder = next.name;
      next.enter();
      return;
    }
    this.holder = null;
    for (const wake of this.freeWaiters.splice(0)) wake();
  }
}
