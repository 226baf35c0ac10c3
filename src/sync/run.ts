// One sync run: take the schema's lock, read the definitions and codelists, then the four
// documented steps in order, and move each stream's watermark only once all of it has landed.
//
// The watermark rules, in one place:
// - The next run's watermark is Provet's clock at this run's first response (its Date header),
//   never the local clock, so a skewed machine clock cannot make a run skip changes.
// - A run asks for modified >= watermark - lookback; re-reading the lookback window is free in
//   the mirror (unchanged rows are not rewritten).
// - A stream's watermark is written only after every page of that stream has committed. A run
//   that fails part-way keeps what landed and leaves the watermark where it was.
import type pg from 'pg';
import { advanceWatermark, closeInterruptedRuns, finishRun, readWatermarks, startRun, takeLease, tryAcquireRunLock, withLeasedTransaction, type StreamName } from '../db/state.js';
import type { Logger } from '../log.js';
import type { ProvetClient, RequestStats } from '../provet/client.js';
import { rereadPatientsOfFlippedClients } from './patient-rereads.js';
import { syncClients } from './clients.js';
import { syncCodelists } from './codelists.js';
import { StopRequestedError, type RunContext, type StreamCounts } from './context.js';
import { noCrashPoints, type CrashPoint } from './crash-points.js';
import { syncCustomFieldDefinitions } from './custom-fields.js';
import { syncPatients } from './patients.js';

export interface SyncDependencies {
  pool: pg.Pool;
  schema: string;
  provet: ProvetClient;
  logger: Logger;
  pageSize: number;
  lookbackSeconds: number;
  signal?: AbortSignal;
  /** Test-only crash points (PROVET_SYNC_CRASH_AT). */
  crashPoint?: CrashPoint;
}

export type RunOutcome =
  | { status: 'locked' }
  | {
      status: 'succeeded' | 'partial' | 'failed';
      runId: number;
      kind: 'full' | 'incremental';
      streams: Record<string, StreamCounts>;
      requests: number;
      throttled: number;
      error?: Error;
      /** The run stopped because it was asked to (SIGTERM), not because something broke. */
      stopped: boolean;
    };

export async function runSync(deps: SyncDependencies, options: { full?: boolean } = {}): Promise<RunOutcome> {
  const lock = await tryAcquireRunLock(deps.pool, deps.schema);
  if (!lock) {
    deps.logger.warn({ schema: deps.schema }, 'another provet-sync run holds this schema; nothing done');
    return { status: 'locked' };
  }
  try {
    return await runLocked(deps, options.full === true);
  } finally {
    await lock.release();
  }
}

async function runLocked(deps: SyncDependencies, forceFull: boolean): Promise<RunOutcome> {
  const interrupted = await closeInterruptedRuns(deps.pool);
  if (interrupted > 0) deps.logger.warn({ runs: interrupted }, 'earlier runs were interrupted; marked failed (what they landed is kept)');
  const watermarks = await readWatermarks(deps.pool);
  // A stream without a watermark is read whole (see sinceFor); the run is 'full' when all are.
  const kind = forceFull || (!watermarks.has('clients') && !watermarks.has('patients')) ? 'full' : 'incremental';
  const runId = await startRun(deps.pool, kind);
  await takeLease(deps.pool, runId);
  const logger = deps.logger.child({ runId });
  const statsBefore = deps.provet.stats();
  const ctx: RunContext = {
    runId,
    provet: deps.provet,
    pool: deps.pool,
    logger,
    pageSize: deps.pageSize,
    signal: deps.signal,
    providerStartedAt: null,
    localStartedAt: Date.now(),
    streams: {},
    crashPoint: deps.crashPoint ?? noCrashPoints,
  };
  logger.info({ kind }, `sync run ${runId} started (${kind})`);
  let error: Error | undefined;
  try {
    await syncCustomFieldDefinitions(ctx);
    const startedAt = providerStartTime(ctx, logger);
    await syncCodelists(ctx);
    await advanceWatermarks(ctx, ['custom_fields', 'species', 'breeds'], startedAt);

    const stepBackMs = await clockStepBack(deps.pool, runId, startedAt, logger);
    const clientsSince = sinceFor('clients', watermarks, startedAt, deps.lookbackSeconds + stepBackMs / 1000, kind, logger);
    await syncClients(ctx, clientsSince.since, { queueRereads: clientsSince.since !== null });
    await advanceWatermarks(ctx, ['clients'], startedAt, clientsSince.repair);

    const patientsSince = sinceFor('patients', watermarks, startedAt, deps.lookbackSeconds + stepBackMs / 1000, kind, logger);
    await syncPatients(ctx, patientsSince.since);
    await rereadPatientsOfFlippedClients(ctx);
    await advanceWatermarks(ctx, ['patients'], startedAt, patientsSince.repair);
  } catch (err) {
    error = err instanceof Error ? err : new Error(String(err));
  }
  return finish(deps, ctx, kind, statsBefore, error);
}

/** Two clocks read a second apart at best (Date headers have whole seconds), plus request time. */
const CLOCK_TOLERANCE_MS = 5_000;

/**
 * How far Provet's clock has stepped back since the last run that landed, measured against the
 * database's clock (sync_runs.started_at): changes made after such a step carry stamps older
 * than the stored watermark, so the run reads back that much further.
 */
async function clockStepBack(pool: pg.Pool, runId: number, providerNow: Date, logger: Logger): Promise<number> {
  const result = await pool.query<{ previous: number | null; current: number | null }>(
    `SELECT (SELECT extract(epoch FROM provider_started_at - started_at) * 1000 FROM sync_runs
              WHERE id < $1 AND provider_started_at IS NOT NULL AND status IN ('succeeded', 'partial')
              ORDER BY id DESC LIMIT 1)::float8 AS previous,
            (SELECT extract(epoch FROM $2::timestamptz - started_at) * 1000 FROM sync_runs WHERE id = $1)::float8 AS current`,
    [runId, providerNow.toISOString()],
  );
  const { previous, current } = result.rows[0] ?? { previous: null, current: null };
  if (previous === null || current === null) return 0;
  const drift = previous - current;
  if (drift <= CLOCK_TOLERANCE_MS) return 0;
  // Generous on purpose: the measurement itself is only good to the tolerance.
  const stepBack = drift + CLOCK_TOLERANCE_MS;
  logger.warn({ stepBackSeconds: Math.round(stepBack / 1000) }, "Provet's clock stepped back since the last run; reading back that much further");
  return stepBack;
}

/**
 * The watermark this run may store: Provet's earliest time seen, never later than its start. When
 * Provet's clock stepped back during the run, that is earlier than the stored watermark may be,
 * and the watermark must be allowed to move back to it.
 */
function watermarkOf(ctx: RunContext, startedAt: Date, runStartedLocally: number): { to: Date; steppedBack: boolean } {
  const earliest = ctx.earliestServerDate;
  if (!earliest || earliest.getTime() >= startedAt.getTime() - CLOCK_TOLERANCE_MS) return { to: startedAt, steppedBack: false };
  // The step happened at some moment of this run, and changes right after it carry stamps up to
  // that long before the earliest Date seen: go back by the run's duration (and the Date's second).
  const to = new Date(earliest.getTime() - (Date.now() - runStartedLocally) - 1000);
  ctx.logger.warn(
    { startedAt: startedAt.toISOString(), earliest: earliest.toISOString(), watermark: to.toISOString() },
    "Provet's clock stepped back during this run; the watermark goes back before the step",
  );
  return { to, steppedBack: true };
}

/** Provet's time at the run's first response; the local clock only if Provet sent no Date. */
function providerStartTime(ctx: RunContext, logger: Logger): Date {
  if (ctx.providerStartedAt) return ctx.providerStartedAt;
  logger.warn('Provet sent no Date header; the watermark falls back to this machine clock');
  ctx.providerStartedAt = new Date();
  return ctx.providerStartedAt;
}

interface Since {
  /** null: read the whole list. */
  since: Date | null;
  /** The stored watermark is in the future and must be allowed to move back. */
  repair: boolean;
}

export function sinceFor(
  stream: StreamName,
  watermarks: Map<string, string>,
  providerNow: Date,
  lookbackSeconds: number,
  kind: 'full' | 'incremental',
  logger: Logger,
): Since {
  const stored = watermarks.get(stream);
  if (kind === 'full' || stored === undefined) return { since: null, repair: false };
  const watermark = Date.parse(stored);
  if (watermark > providerNow.getTime()) {
    logger.warn(
      { stream, watermark: stored, providerNow: providerNow.toISOString() },
      `the ${stream} watermark is ahead of Provet's clock; reading the whole list to be safe and resetting it`,
    );
    return { since: null, repair: true };
  }
  return { since: new Date(watermark - lookbackSeconds * 1000), repair: false };
}

async function advanceWatermarks(ctx: RunContext, streams: StreamName[], startedAt: Date, repair = false): Promise<void> {
  const { to, steppedBack } = watermarkOf(ctx, startedAt, ctx.localStartedAt ?? Date.now());
  await withLeasedTransaction(ctx.pool, ctx.runId, async (db) => {
    for (const stream of streams) {
      await advanceWatermark(db, stream, to.toISOString(), ctx.runId, { allowBackwards: repair || steppedBack });
    }
    ctx.crashPoint('in-watermark');
  });
}

async function finish(
  deps: SyncDependencies,
  ctx: RunContext,
  kind: 'full' | 'incremental',
  statsBefore: RequestStats,
  error: Error | undefined,
): Promise<RunOutcome> {
  const stats = deps.provet.stats();
  const requests = stats.requests - statsBefore.requests;
  const throttled = stats.throttled - statsBefore.throttled;
  const totals = Object.values(ctx.streams).reduce(
    (sum, c) => ({
      pages: sum.pages + c.pages,
      fetched: sum.fetched + c.fetched,
      written: sum.written + c.written,
      rejected: sum.rejected + c.rejected,
    }),
    { pages: 0, fetched: 0, written: 0, rejected: 0 },
  );
  // Once asked to stop, the request in flight is aborted too: whatever error that raises is the stop.
  const stopped = error instanceof StopRequestedError || (error !== undefined && deps.signal?.aborted === true);
  const status = error ? 'failed' : totals.rejected > 0 ? 'partial' : 'succeeded';
  try {
    await finishRun(deps.pool, ctx.runId, {
      status,
      providerStartedAt: ctx.providerStartedAt?.toISOString() ?? null,
      recordsFetched: totals.fetched,
      recordsWritten: totals.written,
      recordsRejected: totals.rejected,
      pages: totals.pages,
      requests,
      throttled,
      streams: ctx.streams,
      error: error ? error.message : null,
    });
  } catch (recordErr) {
    // The database may be what failed; the run's outcome is still reported to the caller.
    ctx.logger.error({ err: { message: (recordErr as Error).message } }, 'could not record the run outcome');
  }
  const summary = { status, ...totals, requests, throttled };
  if (error && !stopped) ctx.logger.error({ ...summary, err: { message: error.message, code: (error as { code?: string }).code } }, `sync run ${ctx.runId} failed: ${error.message}`);
  else if (stopped) ctx.logger.info(summary, `sync run ${ctx.runId} stopped on request; the next run resumes`);
  else ctx.logger.info(summary, `sync run ${ctx.runId} ${status}: ${totals.written} rows written, ${totals.rejected} rejected, ${requests} requests`);
  return { status, runId: ctx.runId, kind, streams: ctx.streams, requests, throttled, stopped, ...(error ? { error } : {}) };
}
