// One run's life, whatever its kind (a scheduled or one-off sync, reconciliation, a webhook
// re-fetch, a purge): the schema's run lock (or 'locked' at once), runs a crash left 'running' closed, the
// sync_runs row, the fencing lease, the context every step shares, and at the end the outcome:
// recorded in sync_runs, logged once, returned. What a kind does in between is its own `body`.
import type pg from 'pg';
import { takeLease, tryAcquireRunLock } from '../db/run-lock.js';
import { closeInterruptedRuns, finishRun, startRun } from '../db/runs.js';
import { noFailpoints, type Failpoints } from '../failpoints.js';
import type { Logger } from '../log.js';
import type { ProvetClient, RequestStats } from '../provet/client.js';
import { countsFor, StopRequestedError, type RunContext, type RunKind, type StreamReport } from './context.js';

export interface RunDependencies {
  pool: pg.Pool;
  schema: string;
  provet: ProvetClient;
  logger: Logger;
  pageSize: number;
  /** Aborted when the process is asked to stop: the run ends after the page it is landing. */
  signal?: AbortSignal;
  /** Test-only: where the process may be killed (PROVET_SYNC_CRASH_AT; see failpoints.ts). */
  failpoints?: Failpoints;
}

export type RunOutcome =
  | { status: 'locked' }
  | {
      status: 'succeeded' | 'partial' | 'failed';
      runId: number;
      kind: RunKind;
      /** Per stream: pages, records fetched, written, rejected, and what the kind found besides. */
      streams: Record<string, StreamReport>;
      requests: number;
      throttled: number;
      error?: Error;
      /** The run ended because it was asked to (SIGTERM), not because something broke. */
      stopped: boolean;
    };

/**
 * Runs `body` as one run. `kind` is decided once the lock is held (a sync reads its watermarks
 * to know whether it is full or incremental): `plan` returns it with whatever the body needs.
 * An error from `body` fails the run (what landed is kept); an error before the run row exists
 * (the database unreachable) is thrown to the caller.
 */
export function withRun<Plan>(
  deps: RunDependencies,
  plan: (pool: pg.Pool) => Promise<{ kind: RunKind; plan: Plan }>,
  body: (ctx: RunContext, plan: Plan) => Promise<void>,
): Promise<RunOutcome> {
  return lifecycle(
    deps,
    () => deps.provet.stats(),
    plan,
    (base) => ({ ...base, provet: deps.provet, pageSize: deps.pageSize }),
    body,
  );
}

/** What a run that does not talk to Provet (the purge) is given: the same lock, row and lease. */
export type LocalRunDependencies = Omit<RunDependencies, 'provet' | 'pageSize'>;
export type LocalRunContext = Omit<RunContext, 'provet' | 'pageSize'>;

/** Runs `body` as one run of `kind` that makes no request to Provet (its request counts are 0). */
export function withLocalRun(
  deps: LocalRunDependencies,
  kind: RunKind,
  body: (ctx: LocalRunContext) => Promise<void>,
): Promise<RunOutcome> {
  return lifecycle(
    deps,
    () => ({ requests: 0, throttled: 0 }),
    () => Promise.resolve({ kind, plan: undefined }),
    (base) => base,
    body,
  );
}

type RequestCounts = Pick<RequestStats, 'requests' | 'throttled'>;

async function lifecycle<Plan, Ctx extends LocalRunContext>(
  deps: LocalRunDependencies,
  stats: () => RequestCounts,
  plan: (pool: pg.Pool) => Promise<{ kind: RunKind; plan: Plan }>,
  context: (base: LocalRunContext) => Ctx,
  body: (ctx: Ctx, plan: Plan) => Promise<void>,
): Promise<RunOutcome> {
  const lock = await tryAcquireRunLock(deps.pool, deps.schema);
  if (!lock) {
    deps.logger.warn({ schema: deps.schema }, 'another provet-sync run holds this schema; nothing done');
    return { status: 'locked' };
  }
  try {
    const interrupted = await closeInterruptedRuns(deps.pool);
    if (interrupted > 0)
      deps.logger.warn(
        { runs: interrupted },
        'earlier runs were interrupted; marked failed (what they landed is kept)',
      );
    const { kind, plan: planned } = await plan(deps.pool);
    const runId = await startRun(deps.pool, kind);
    await takeLease(deps.pool, runId);
    const failpoints = deps.failpoints ?? noFailpoints;
    const ctx = context({
      runId,
      kind,
      pool: deps.pool,
      logger: deps.logger.child({ runId, kind }),
      signal: deps.signal,
      providerStartedAt: null,
      localStartedAt: Date.now(),
      streams: {},
      findings: {},
      failpoint: (point) => failpoints(point, kind),
    });
    // The child logger already carries the kind.
    ctx.logger.info(`${runName(kind, runId)} started${kind === 'full' || kind === 'incremental' ? ` (${kind})` : ''}`);
    const before = stats();
    let error: Error | undefined;
    try {
      await body(ctx, planned);
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    }
    return await finish(deps, ctx, before, stats(), error);
  } finally {
    await lock.release();
  }
}

async function finish(
  deps: LocalRunDependencies,
  ctx: LocalRunContext,
  before: RequestCounts,
  after: RequestCounts,
  error: Error | undefined,
): Promise<RunOutcome> {
  const requests = after.requests - before.requests;
  const throttled = after.throttled - before.throttled;
  const streams: Record<string, StreamReport> = {};
  for (const name of new Set([...Object.keys(ctx.streams), ...Object.keys(ctx.findings)])) {
    streams[name] = { ...ctx.findings[name], ...countsFor(ctx, name) };
  }
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
      streams,
      error: error ? error.message : null,
    });
  } catch (recordErr) {
    // The database may be what failed; the run's outcome is still reported to the caller.
    ctx.logger.error({ err: { message: (recordErr as Error).message } }, 'could not record the run outcome');
  }
  const summary = { status, ...totals, requests, throttled };
  const name = runName(ctx.kind, ctx.runId);
  if (error && !stopped)
    ctx.logger.error(
      { ...summary, err: { message: error.message, code: (error as { code?: string }).code } },
      `${name} failed: ${error.message}`,
    );
  else if (stopped) ctx.logger.info(summary, `${name} stopped on request; the next run resumes`);
  else
    ctx.logger.info(
      summary,
      `${name} ${status}: ${totals.written} rows written, ${totals.rejected} rejected, ${requests} requests`,
    );
  return {
    status,
    runId: ctx.runId,
    kind: ctx.kind,
    streams,
    requests,
    throttled,
    stopped,
    ...(error ? { error } : {}),
  };
}

/** "sync run 12" (full or incremental), "reconcile run 13", "purge run 15": as logs and messages say it. */
function runName(kind: RunKind, runId: number): string {
  return `${kind === 'full' || kind === 'incremental' ? 'sync' : kind} run ${runId}`;
}
