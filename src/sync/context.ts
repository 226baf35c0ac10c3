// What every step of a run shares: the run's id, the API client, the pool, the logger, the
// counters that end up in sync_runs, and the Provet server time at which the run started.
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { ProvetClient } from '../provet/client.js';
import type { PageResult } from '../provet/pages.js';
import type { FailpointName } from '../failpoints.js';

export class StopRequestedError extends Error {
  readonly code = 'SYNC_STOPPED';
  constructor() {
    super('the run was asked to stop; everything that landed is kept and the next run resumes');
  }
}

export interface StreamCounts {
  pages: number;
  fetched: number;
  written: number;
  rejected: number;
}

export type RunKind = 'full' | 'incremental' | 'reconcile' | 'webhook' | 'purge';

/** What a kind of run found besides the counts, per stream (reconcile's ranges, rows marked deleted). */
export type Findings = Record<string, number>;

/** A stream's line in sync_runs.streams and in the run's outcome. */
export type StreamReport = StreamCounts & Findings;

export interface RunContext {
  runId: number;
  kind: RunKind;
  provet: ProvetClient;
  pool: pg.Pool;
  logger: Logger;
  pageSize: number;
  signal: AbortSignal | undefined;
  /** Provet's clock at the first response of this run. */
  providerStartedAt: Date | null;
  /** The earliest Date Provet sent in this run: the next run's watermark. It is earlier than
   *  providerStartedAt only when Provet's clock stepped back during the run. */
  earliestServerDate?: Date | null;
  /** This machine's clock when the run started (Date.now()). */
  localStartedAt?: number;
  streams: Record<string, StreamCounts>;
  findings: Record<string, Findings>;
  /** Test-only: where the process may be killed on purpose (see failpoints.ts). */
  failpoint: (point: FailpointName) => void;
  /** Pages the run's streams hold at once, from their fetch until they have landed (see Slots). */
  pageSlots?: Slots;
}

/**
 * At most `size` holders at a time; the others wait in order. The client and patient streams of a
 * run share one for the pages they hold (fetched ahead, mapped, waiting or being written): each
 * stream on its own would hold as many as one stream did before they were read side by side, and
 * both at once grew a million-client backfill's peak memory by a tenth, for no gain. Under
 * Provet's limits pages arrive slower than they land, so the slots are seldom all taken; without
 * limits the machine's cores are busy anyway.
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(size: number) {
    this.free = size;
  }

  /**
   * Resolves with the function that gives the slot back (calling it again does nothing); rejects,
   * holding nothing, if `signal` aborts while it waits.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.free > 0) this.free -= 1;
    else {
      await new Promise<void>((resolve, reject) => {
        const granted = () => {
          signal?.removeEventListener('abort', abandoned);
          resolve();
        };
        const abandoned = () => {
          this.waiting.splice(this.waiting.indexOf(granted), 1);
          reject(signal!.reason instanceof Error ? signal!.reason : new Error('gave up waiting for a page slot'));
        };
        this.waiting.push(granted);
        signal?.addEventListener('abort', abandoned, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

export function countsFor(ctx: Pick<RunContext, 'streams'>, stream: string): StreamCounts {
  return (ctx.streams[stream] ??= { pages: 0, fetched: 0, written: 0, rejected: 0 });
}

/** What the run found in `stream` besides the counts; rows marked deleted and brought back start at 0. */
export function findingsFor(
  ctx: Pick<RunContext, 'findings'>,
  stream: string,
): Findings & { markedDeleted: number; undeleted: number } {
  return (ctx.findings[stream] ??= { markedDeleted: 0, undeleted: 0 }) as Findings & {
    markedDeleted: number;
    undeleted: number;
  };
}

/** The first response of the run tells Provet's time; later ones are ignored. */
export function noteServerDate(ctx: RunContext, date: Date | null): void {
  if (date === null) return;
  if (ctx.providerStartedAt === null) ctx.providerStartedAt = date;
  if (!ctx.earliestServerDate || date < ctx.earliestServerDate) ctx.earliestServerDate = date;
}

export function throwIfStopped(ctx: RunContext): void {
  if (ctx.signal?.aborted) throw new StopRequestedError();
}

/**
 * Iterates pages while the next one is already being fetched, so the database write of one page
 * overlaps the download of the next. A prefetch that fails is rethrown when its turn comes.
 */
export async function* prefetched<Page>(pages: AsyncGenerator<Page>): AsyncGenerator<Page> {
  let pending = pages.next();
  pending.catch(() => {}); // observed below; this only keeps it from counting as unhandled meanwhile
  try {
    for (;;) {
      const current = await pending;
      if (current.done) return;
      pending = pages.next();
      pending.catch(() => {});
      yield current.value;
    }
  } finally {
    await pages.return(undefined).catch(() => {});
  }
}

/** A progress line at most every few seconds on long streams; always one at the end. */
export class Progress {
  private lastLog = 0;
  private readonly started = Date.now();
  private readonly counts: StreamCounts = { pages: 0, fetched: 0, written: 0, rejected: 0 };
  /** `logger` already carries the stream's name. */
  constructor(
    private readonly logger: Logger,
    private readonly label: string,
    private readonly everyMs = 5_000,
  ) {}

  page(
    page: Pick<PageResult, 'page' | 'numPages' | 'count'> & { fetched: number },
    landed: { written: number; rejected: number },
  ): void {
    const c = this.counts;
    c.pages += 1;
    c.fetched += page.fetched;
    c.written += landed.written;
    c.rejected += landed.rejected;
    const now = Date.now();
    if (now - this.lastLog < this.everyMs) return;
    this.lastLog = now;
    const seconds = (now - this.started) / 1000;
    this.logger.info(
      {
        page: page.page,
        pages: page.numPages,
        records: c.fetched,
        total: page.count,
        written: c.written,
        perSecond: Math.round(c.fetched / Math.max(seconds, 0.001)),
      },
      `${this.label}: page ${page.page}/${page.numPages}, ${c.fetched}/${page.count} records`,
    );
  }

  done(): void {
    const seconds = (Date.now() - this.started) / 1000;
    const c = this.counts;
    this.logger.info(
      { ...c, seconds: Math.round(seconds * 10) / 10 },
      `${this.label}: ${c.fetched} records read, ${c.written} written, ${c.rejected} rejected`,
    );
  }
}
