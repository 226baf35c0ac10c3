// provet-sync's own bookkeeping: the run lock, watermarks, run records, rejects and the queue of
// clients whose patients must be read again.
import type pg from 'pg';
import { withTransaction } from './connect.js';

type Db = pg.Pool | pg.PoolClient;

export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed';
export type StreamName = 'clients' | 'patients' | 'custom_fields' | 'species' | 'breeds';

export interface RunLock {
  release(): Promise<void>;
}

/**
 * Takes the schema's run lock on a dedicated connection, or returns null when another process
 * holds it. The lock lives as long as that connection: a crashed holder releases it.
 */
export async function tryAcquireRunLock(pool: pg.Pool, schema: string): Promise<RunLock | null> {
  const client = await pool.connect();
  try {
    const result = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext('provet-sync:run'), hashtext($1)) AS locked`,
      [schema],
    );
    if (!result.rows[0]?.locked) {
      client.release();
      return null;
    }
  } catch (err) {
    client.release(true);
    throw err;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        await client.query(`SELECT pg_advisory_unlock(hashtext('provet-sync:run'), hashtext($1))`, [schema]);
        client.release();
      } catch {
        // The connection is gone, and the lock with it.
        client.release(true);
      }
    },
  };
}

export class LeaseLostError extends Error {
  readonly code = 'SYNC_LEASE_LOST';
  constructor(runId: number, holder: number | null) {
    super(
      `run ${runId} lost its lease to run ${holder ?? '(none)'}: another process took over while this one was stalled; nothing more is written`,
    );
  }
}

/** Makes this run the one allowed to write (called right after the run lock is taken). */
export async function takeLease(db: Db, runId: number): Promise<void> {
  await db.query(
    `INSERT INTO sync_lease (singleton, run_id) VALUES (true, $1)
     ON CONFLICT (singleton) DO UPDATE SET run_id = excluded.run_id, taken_at = now()`,
    [runId],
  );
}

const LEASE_CHECK = 'SELECT run_id FROM sync_lease WHERE singleton FOR SHARE';

/**
 * Runs fn in a write transaction that fails first unless this run still holds the lease. The row
 * lock (FOR SHARE) makes a takeover wait for this transaction, so a write either lands before the
 * takeover or not at all. The check, and `opening` (statements without parameters), go in the
 * same round trip as BEGIN: a page's transaction holds a connection, and each round trip is time
 * that connection does nothing.
 */
export function withLeasedTransaction<T>(
  pool: pg.Pool,
  runId: number,
  fn: (db: pg.PoolClient) => Promise<T>,
  opening?: string,
): Promise<T> {
  return withTransaction(
    pool,
    async (db, [check]) => {
      const holder = check?.rows[0] ? Number((check.rows[0] as { run_id: string }).run_id) : null;
      if (holder !== runId) throw new LeaseLostError(runId, holder);
      return fn(db);
    },
    opening ? `${LEASE_CHECK}; ${opening}` : LEASE_CHECK,
  );
}

/**
 * Runs still marked 'running' when the lock is free were cut off (killed, or their database went
 * away mid-run): record them as failed so status and readiness do not see them as going.
 */
export async function closeInterruptedRuns(db: Db): Promise<number> {
  const result = await db.query(
    `UPDATE sync_runs SET status = 'failed', finished_at = now(),
       error = coalesce(error, 'interrupted: the process stopped before the run finished; what had landed was kept')
     WHERE status = 'running'`,
  );
  return result.rowCount ?? 0;
}

/** kind: 'full' or 'incremental' for the poll; 'reconcile' or 'webhook' for side runs. */
export async function startRun(db: Db, kind: 'full' | 'incremental' | 'reconcile' | 'webhook'): Promise<number> {
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

export async function finishRun(db: Db, runId: number, totals: RunTotals): Promise<void> {
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

/** Watermarks as ISO strings (microseconds kept), by stream. */
export async function readWatermarks(db: Db): Promise<Map<string, string>> {
  const result = await db.query<{ stream: string; watermark: string | null }>(
    `SELECT stream, to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS watermark FROM sync_state`,
  );
  const map = new Map<string, string>();
  for (const row of result.rows) if (row.watermark) map.set(row.stream, row.watermark);
  return map;
}

/**
 * Stores a stream's watermark. It only moves forward, so a slow or stale process can never take
 * it back; `allowBackwards` is for repairing a watermark that was found in the future.
 */
export async function advanceWatermark(
  db: pg.PoolClient,
  stream: StreamName,
  watermark: string,
  runId: number,
  options: { allowBackwards?: boolean } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO sync_state AS s (stream, watermark, last_run_id, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (stream) DO UPDATE SET watermark = excluded.watermark, last_run_id = excluded.last_run_id,
       updated_at = now()
     WHERE $4 OR s.watermark IS NULL OR s.watermark <= excluded.watermark`,
    [stream, watermark, runId, options.allowBackwards === true],
  );
}

export interface RejectRow {
  recordId: string | null;
  reason: string;
  payload: string;
}

export async function recordRejects(
  db: Db,
  runId: number,
  stream: string,
  rejects: readonly RejectRow[],
): Promise<void> {
  if (rejects.length === 0) return;
  await db.query(
    `INSERT INTO sync_rejects (run_id, stream, record_id, reason, payload)
     SELECT $1, $2, r.record_id, r.reason, r.payload
     FROM unnest($3::text[], $4::text[], $5::text[]) AS r(record_id, reason, payload)`,
    [runId, stream, rejects.map((r) => r.recordId), rejects.map((r) => r.reason), rejects.map((r) => r.payload)],
  );
}

export async function queuePatientRereads(db: Db, clientIds: readonly number[], runId: number): Promise<void> {
  if (clientIds.length === 0) return;
  await db.query(
    `INSERT INTO patient_rereads (client_id, run_id) SELECT unnest($1::bigint[]), $2 ON CONFLICT (client_id) DO NOTHING`,
    [clientIds, runId],
  );
}

export async function pendingPatientRereads(db: Db): Promise<number[]> {
  const result = await db.query<{ client_id: string }>('SELECT client_id FROM patient_rereads ORDER BY client_id');
  return result.rows.map((r) => Number(r.client_id));
}

export async function clearPatientRereads(db: Db, clientIds: readonly number[]): Promise<void> {
  await db.query('DELETE FROM patient_rereads WHERE client_id = ANY($1::bigint[])', [clientIds]);
}
