// The queue between the webhook receiver and the re-fetch runs. Hints are deduplicated (a record
// is queued once however often Provet calls), collected for a short debounce, and handed over in
// bounded batches. While another run holds the lock, the batch goes back to the queue and is
// tried again shortly; the scheduled poll usually brings the change meanwhile anyway.
import type { Logger } from '../log.js';
import type { RecordIds } from '../sync/refetch.js';
import type { Hint } from './webhook.js';

export type RefetchResult = 'done' | 'locked' | 'failed';

export interface HintQueueOptions {
  debounceMs: number;
  /** Wait before trying again after 'locked' or 'failed'. */
  retryMs: number;
  /** Beyond this many queued records new hints are refused (the poll is the source of truth). */
  maxQueued: number;
  /** Records per re-fetch run. */
  maxPerRun: number;
  /** A batch that keeps failing is dropped after this many tries. */
  maxTries: number;
  logger: Logger;
  refetch: (ids: RecordIds) => Promise<RefetchResult>;
  onSizeChange?: (size: number) => void;
}

export class HintQueue {
  private readonly queued = new Map<string, { hint: Hint; tries: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: HintQueueOptions) {}

  get size(): number {
    return this.queued.size;
  }

  add(hint: Hint): boolean {
    if (this.stopped) return false;
    const key = `${hint.kind}:${hint.id}`;
    if (!this.queued.has(key)) {
      if (this.queued.size >= this.options.maxQueued) return false;
      this.queued.set(key, { hint, tries: 0 });
      this.options.onSizeChange?.(this.queued.size);
    }
    this.schedule(this.options.debounceMs);
    return true;
  }

  /** No new batches; waits for the one in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.flush().finally(() => {
        this.running = null;
        if (this.queued.size > 0) this.schedule(this.nextDelay);
      });
    }, delayMs);
    this.timer.unref();
  }

  private nextDelay = 0;

  private async flush(): Promise<void> {
    const batch = [...this.queued.entries()].slice(0, this.options.maxPerRun);
    for (const [key] of batch) this.queued.delete(key);
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
    if (result === 'done') {
      this.nextDelay = 0;
    } else {
      // Back into the queue (unless tried too often); newer hints for the same record stay as they are.
      for (const [key, entry] of batch) {
        if (result === 'failed' && entry.tries + 1 >= this.options.maxTries) continue;
        if (!this.queued.has(key)) this.queued.set(key, { hint: entry.hint, tries: entry.tries + (result === 'failed' ? 1 : 0) });
      }
      this.nextDelay = this.options.retryMs;
    }
    this.options.onSizeChange?.(this.queued.size);
  }
}
