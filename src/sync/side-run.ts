// Runs that are not the scheduled poll: reconciliation and webhook re-fetches. They write to the
// mirror exactly like a poll does: under the schema's run lock, holding the fencing lease, each
// batch landed by landPage with the versioned upsert, and the run recorded in sync_runs.
import type pg from 'pg';
import { clearDeleted, markDeleted, type RecordTable } from '../db/reconcile.js';
import { finishRun, startRun, takeLease, tryAcquireRunLock, withLeasedTransaction } from '../db/state.js';
import type { Logger } from '../log.js';
import type { ProvetClient } from '../provet/client.js';
import { countsFor, noteServerDate, StopRequestedError, type RunContext } from './context.js';
import { noCrashPoints } from './crash-points.js';
import { fillMissingFieldValues } from './custom-fields.js';
import { landPage } from './land.js';
import { writeClients } from './clients.js';
import { writePatients } from './patients.js';
import { fillMissingPhoneNumbers } from './phone-numbers.js';
import { rawText, type ClientRow, type PatientRow, type RawJson, type Reject } from './rows.js';

export interface SideRunDependencies {
  pool: pg.Pool;
  schema: string;
  provet: ProvetClient;
  logger: Logger;
  pageSize: number;
  signal?: AbortSignal;
}

/** What a side run found besides the usual counts, per stream; stored in sync_runs.streams. */
export interface SideFindings {
  markedDeleted: number;
  undeleted: number;
  [extra: string]: number;
}

export type SideRunOutcome =
  | { status: 'locked' }
  | { status: 'succeeded' | 'partial' | 'failed'; runId: number; kind: string; streams: Record<string, Record<string, number>>; requests: number; throttled: number; error?: Error };

export interface SideRunContext extends RunContext {
  findings: Record<string, SideFindings>;
}

export function findingsFor(ctx: SideRunContext, stream: string): SideFindings {
  return (ctx.findings[stream] ??= { markedDeleted: 0, undeleted: 0 });
}

/** Takes the run lock (or returns 'locked' at once), records the run, and hands fn a context. */
export async function withSideRun(
  deps: SideRunDependencies,
  kind: 'reconcile' | 'webhook',
  fn: (ctx: SideRunContext) => Promise<void>,
): Promise<SideRunOutcome> {
  const lock = await tryAcquireRunLock(deps.pool, deps.schema);
  if (!lock) return { status: 'locked' };
  try {
    const runId = await startRun(deps.pool, kind);
    await takeLease(deps.pool, runId);
    const ctx: SideRunContext = {
      runId,
      provet: deps.provet,
      pool: deps.pool,
      logger: deps.logger.child({ runId, kind }),
      pageSize: deps.pageSize,
      signal: deps.signal,
      providerStartedAt: null,
      streams: {},
      crashPoint: noCrashPoints,
      findings: {},
    };
    const before = deps.provet.stats();
    let error: Error | undefined;
    try {
      await fn(ctx);
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    }
    const after = deps.provet.stats();
    return await finishSideRun(ctx, kind, after.requests - before.requests, after.throttled - before.throttled, error);
  } finally {
    await lock.release();
  }
}

async function finishSideRun(ctx: SideRunContext, kind: string, requests: number, throttled: number, error: Error | undefined): Promise<SideRunOutcome> {
  const streams: Record<string, Record<string, number>> = {};
  for (const name of new Set([...Object.keys(ctx.streams), ...Object.keys(ctx.findings)])) {
    streams[name] = { ...countsFor(ctx, name), ...findingsFor(ctx, name) };
  }
  const sum = (key: 'fetched' | 'written' | 'rejected' | 'pages') => Object.values(ctx.streams).reduce((n, c) => n + c[key], 0);
  const status = error ? 'failed' : sum('rejected') > 0 ? 'partial' : 'succeeded';
  try {
    await finishRun(ctx.pool, ctx.runId, {
      status,
      providerStartedAt: ctx.providerStartedAt?.toISOString() ?? null,
      recordsFetched: sum('fetched'),
      recordsWritten: sum('written'),
      recordsRejected: sum('rejected'),
      pages: sum('pages'),
      requests,
      throttled,
      streams,
      error: error ? error.message : null,
    });
  } catch (recordErr) {
    ctx.logger.error({ err: { message: (recordErr as Error).message } }, 'could not record the run outcome');
  }
  const summary = { status, streams, requests, throttled };
  if (error && !(error instanceof StopRequestedError)) ctx.logger.error({ ...summary, err: { message: error.message } }, `${kind} run ${ctx.runId} failed: ${error.message}`);
  else ctx.logger.info(summary, `${kind} run ${ctx.runId} ${status}`);
  return { status, runId: ctx.runId, kind, streams, requests, throttled, ...(error ? { error } : {}) };
}

/** Lands records of one kind as a poll page would, and clears deleted_at on every one of them. */
export async function landRecords(
  ctx: SideRunContext,
  table: RecordTable,
  mapped: { rows: ClientRow[] | PatientRow[]; rejects: Reject[] },
  serverDate: Date | null,
): Promise<number> {
  noteServerDate(ctx, serverDate);
  const counts = countsFor(ctx, table);
  const findings = findingsFor(ctx, table);
  let written: number;
  let rejected: number;
  if (table === 'clients') {
    const rows = mapped.rows as ClientRow[];
    await fillMissingFieldValues(ctx, 'client', rows);
    await fillMissingPhoneNumbers(ctx, rows);
    const landed = await landPage(ctx, { stream: table, rows, rejects: mapped.rejects, write: (db, r) => writeClients(db, r, ctx, true), describe });
    [written, rejected] = [landed.written, landed.rejects.length];
  } else {
    const rows = mapped.rows as PatientRow[];
    await fillMissingFieldValues(ctx, 'patient', rows);
    const landed = await landPage(ctx, { stream: table, rows, rejects: mapped.rejects, write: (db, r) => writePatients(db, r, ctx), describe });
    [written, rejected] = [landed.written, landed.rejects.length];
  }
  const ids = mapped.rows.map((r) => r.id);
  findings.undeleted += (await inLease(ctx, (db) => clearDeleted(db, table, ids))).length;
  counts.fetched += mapped.rows.length + mapped.rejects.length;
  counts.written += written;
  counts.rejected += rejected;
  return written;
}

/** Marks rows that Provet no longer has; returns how many were newly marked. */
export async function markGone(ctx: SideRunContext, table: RecordTable, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const marked = await inLease(ctx, (db) => markDeleted(db, table, ids));
  findingsFor(ctx, table).markedDeleted += marked.length;
  if (marked.length > 0) ctx.logger.info({ stream: table, ids: marked.slice(0, 20), count: marked.length }, `${marked.length} ${table} gone from Provet: marked deleted_at`);
  return marked.length;
}

async function inLease<T>(ctx: RunContext, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  return withLeasedTransaction(ctx.pool, ctx.runId, fn);
}

function describe(row: { id: number; rawJson: RawJson }): { recordId: string; payload: string } {
  return { recordId: String(row.id), payload: rawText(row.rawJson) };
}
