// The run records in sync_runs: opened when a run starts, closed with its totals, and closed as
// failed when a run was cut off before it could close its own.
import type { Queryable } from './connect.js';

type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed';

/**
 * Runs still marked 'running' when the lock is free were cut off (killed, or their database went
 * away mid-run): record them as failed so status and readiness do not see them as going.
 */
export async function closeInterruptedRuns(db: Queryable): Promise<number> {
  const result = await db.query(
    `UPDATE sync_runs SET status = 'failed', finished_at = now(),
       error = coalesce(error, 'interrupted: the process stopped before the run finished; what had landed was kept')
     WHERE status = 'running'`,
  );
  return result.rowCount ?? 0;
}

/** kind: 'full' or 'incremental' for the poll; 'reconcile', 'webhook' or 'purge' for side runs. */
export async function startRun(
  db: Queryable,
  kind: 'full' | 'incremental' | 'reconcile' | 'webhook' | 'purge',
): Promise<number> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO sync_runs (kind, status) VALUES ($1, 'running') RETURNING id`,
    [kind],
  );
  return Number(result.rows[0]!.id);
}

export interface RunTotals {
  status: Exclude<RunStatus, 'running'>;
  providerStartedAt: string | null;
  recordsFetched: number;
  recordsWritten: number;
  recordsRejected: number;
  pages: number;
  requests: number;
  throttled: number;
  streams: Record<string, unknown>;
  error: string | null;
}

export async function finishRun(db: Queryable, runId: number, totals: RunTotals): Promise<void> {
  await db.query(
    `UPDATE sync_runs SET status = $2, finished_at = now(), provider_started_at = $3, records_fetched = $4,
       records_written = $5, records_rejected = $6, pages = $7, requests = $8, throttled = $9, streams = $10,
       error = $11
     WHERE id = $1`,
    [
      runId,
      totals.status,
      totals.providerStartedAt,
      totals.recordsFetched,
      totals.recordsWritten,
      totals.recordsRejected,
      totals.pages,
      totals.requests,
      totals.throttled,
      JSON.stringify(totals.streams),
      totals.error,
    ],
  );
}
