// The queue between the webhook receiver and the re-fetch runs. Hints are deduplicated (a record
// is queued once however often Provet calls), collected for a short debounce, and handed over in
// bounded batches. Three things hold a batch back, and none of them loses a hint:
// - the run gate (run-gate.ts): a batch starts only when no other run of this daemon is going and
//   no scheduled run is due, so a flood of hints cannot starve the poll or reconcile;
// - the re-fetch cap (RefetchCap): at most so many re-fetches in any rolling minute, well under
//   Provet's per-record budgets (which are not the lists' the polls use), so a flood keeps clear
//   of 429s and of the API client's pacing, and each re-fetch run stays short;
// - the run lock held by another process: the batch goes back to the queue and is tried again
//   shortly; the scheduled poll usually brings the change meanwhile anyway.
// Held-back hints stay queued (deduplicated) until the queue is full; only then are new ones
// refused, which is safe because the poll is the source of truth.
import type { Logger } from '../log.js';
import type { RecordIds } from '../sync/refetch.js';
import type { Hint } from './webhook.js';

export type RefetchResult = 'done' | 'locked' | 'failed';

/** The part of RunGate the queue uses (see run-gate.ts). */
interface WebhookGate {
  tryWebhook<T>(fn: () => Promise<T>): Promise<T> | null;
  whenFree(): Promise<void>;
}

export interface HintQueueOptions {
  debounceMs: number;
  /** Wait before trying again after 'locked' or 'failed'. */
  retryMs: number;
  /** Beyond this many queued records new hints are refused (the poll is the source of truth). */
  maxQueued: number;
  /** Records per re-fetch run: also the longest a due scheduled run waits for a webhook batch. */
  maxPerRun: number;
  /** A batch that keeps failing is dropped after this many tries. */
  maxTries: number;
  logger: Logger;
  refetch: (ids: RecordIds) => Promise<RefetchResult>;
  onSizeChange?: (size: number) => void;
  /** Re-fetches per rolling minute; none when unset. */
  cap?: RefetchCap;
  /** Batches start only when the gate lets them; always when unset. */
  gate?: WebhookGate;
  /** Records whose re-fetch the cap postponed: each counted once per stay in the queue. */
  onDeferred?: (records: number) => void;
  /** Records handed to a re-fetch run that ran (each counted against the cap). */
  onRefetched?: (records: number) => void;
}

interface Entry {
  hint: Hint;
  tries: number;
  /** Already counted as deferred by the cap during this stay in the queue. */
  deferred: boolean;
}

export class HintQueue {
  private readonly queued = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private awaitingGate = false;
  private stopped = false;
  private nextDelay = 0;

  constructor(private readonly options: HintQueueOptions) {}

  get size(): number {
    return this.queued.size;
  }

  add(hint: Hint): boolean {
    if (this.stopped) return false;
    const key = `${hint.kind}:${hint.id}`;
    if (!this.queued.has(key)) {
      if (this.queued.size >= this.options.maxQueued) return false;
      // Arriving while the minute's re-fetches are spent: the cap is what makes this one wait.
      const deferred = this.options.cap !== undefined && this.options.cap.available() === 0;
      this.queued.set(key, { hint, tries: 0, deferred });
      if (deferred) this.options.onDeferred?.(1);
      this.options.onSizeChange?.(this.queued.size);
    }
    this.wait(this.options.debounceMs);
    return true;
  }

  /** No new batches; waits for the one in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Tries to start a batch after delayMs, unless a batch runs or a wake-up is already set. */
  private wait(delayMs: number): void {
    if (this.stopped || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, delayMs);
    this.timer.unref();
  }

  /** Starts the next batch if the cap and the gate allow; otherwise arranges to be called again. */
  private pump(): void {
    if (this.stopped || this.timer || this.running || this.queued.size === 0) return;
    const cap = this.options.cap;
    const allowed = cap ? cap.available() : this.options.maxPerRun;
    if (allowed <= 0) {
      this.markDeferred();
      // null: only the batch in flight holds the cap, and its end calls pump again.
      const untilFree = cap!.msUntilAvailable();
      if (untilFree !== null) this.wait(untilFree);
      return;
    }
    const size = Math.min(this.options.maxPerRun, allowed);
    const gate = this.options.gate;
    const started = gate ? gate.tryWebhook(() => this.flush(size)) : this.flush(size);
    if (!started) {
      // A scheduled run is due or going: wait for it, without holding a timer.
      if (!this.awaitingGate) {
        this.awaitingGate = true;
        void gate!.whenFree().then(() => {
          this.awaitingGate = false;
          this.pump();
        });
      }
      return;
    }
    this.running = started.finally(() => {
      this.running = null;
      if (this.queued.size === 0) return;
      if (this.nextDelay > 0) this.wait(this.nextDelay);
      else this.pump();
    });
  }

  /** Counts every queued record the cap now holds back, once per stay in the queue. */
  private markDeferred(): void {
    let count = 0;
    for (const entry of this.queued.values()) {
      if (entry.deferred) continue;
      entry.deferred = true;
      count++;
    }
    if (count > 0) this.options.onDeferred?.(count);
  }

  private async flush(size: number): Promise<void> {
    const batch = [...this.queued.entries()].slice(0, size);
    for (const [key] of batch) this.queued.delete(key);
    const spend = this.options.cap?.take(batch.length);
    // What is left waits for the cap, not just for the next batch.
    if (this.queued.size > 0 && this.options.cap?.available() === 0) this.markDeferred();
    const ids = {
      clients: batch.filter(([, e]) => e.hint.kind === 'client').map(([, e]) => e.hint.id),
      patients: batch.filter(([, e]) => e.hint.kind === 'patient').map(([, e]) => e.hint.id),
    };
    let result: RefetchResult;
    try {
      result = await this.options.refetch(ids);
    } catch (err) {
      this.options.logger.error({ err: { message: (err as Error).message } }, 'webhook re-fetch could not run');
      result = 'failed';
    }
    // 'locked': another process held the run lock and nothing was requested, so nothing is spent.
    // 'failed' may have made some of its requests: counted whole, to stay on the safe side.
    spend?.(result === 'locked' ? 0 : batch.length);
    if (result !== 'locked') this.options.onRefetched?.(batch.length);
    if (result === 'done') {
      this.nextDelay = 0;
    } else {
      // Back into the queue (unless tried too often); newer hints for the same record stay as they are.
      for (const [key, entry] of batch) {
        if (result === 'failed' && entry.tries + 1 >= this.options.maxTries) continue;
        if (!this.queued.has(key))
          this.queued.set(key, { ...entry, tries: entry.tries + (result === 'failed' ? 1 : 0) });
      }
      this.nextDelay = this.options.retryMs;
    }
    this.options.onSizeChange?.(this.queued.size);
  }
}

/**
 * At most `perMinute` re-fetches in any rolling minute, counted from the moment their batch
 * starts until a minute after it ends. Since every request of a batch is made between its start
 * and its end, no minute-long window (of the requests as Provet sees them) holds more than
 * `perMinute` of them, however long a batch takes. A token bucket would smooth better but lets
 * a burst on top of the rate through, which is not what "per minute" promises.
 */
export class RefetchCap {
  private inFlight = 0;
  /** Re-fetches of ended batches, oldest first, with when their batch ended. */
  private readonly spent: { at: number; count: number }[] = [];

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
    private readonly windowMs = 60_000,
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1)
      throw new RangeError('the re-fetch cap must be a positive integer');
  }

  /** Re-fetches that may start now. */
  available(): number {
    this.prune();
    return Math.max(0, this.perMinute - this.inFlight - this.spent.reduce((n, s) => n + s.count, 0));
  }

  /** Reserves `count` for a batch; the returned function ends it with how many it spent (at most `count`). */
  take(count: number): (spent: number) => void {
    this.inFlight += count;
    let ended = false;
    return (spent) => {
      if (ended) return;
      ended = true;
      this.inFlight -= count;
      const used = Math.min(Math.max(0, spent), count);
      if (used > 0) this.spent.push({ at: this.now(), count: used });
    };
  }

  /** How long until one re-fetch may start, if no batch in flight ends; null when only those hold the cap. */
  msUntilAvailable(): number | null {
    if (this.available() > 0) return 0;
    let excess = this.inFlight + this.spent.reduce((n, s) => n + s.count, 0) - this.perMinute + 1;
    for (const s of this.spent) {
      excess -= s.count;
      if (excess <= 0) return Math.max(0, s.at + this.windowMs - this.now());
    }
    return null;
  }

  private prune(): void {
    const now = this.now();
    while (this.spent.length > 0 && this.spent[0]!.at + this.windowMs <= now) this.spent.shift();
  }
}
