// Who may write: the run lock (a session advisory lock, one holder per schema) and the lease that
// fences the writes of a holder which lost the lock while stalled.
import type pg from 'pg';
import { withTransaction, type Queryable } from './connect.js';

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

class LeaseLostError extends Error {
  readonly code = 'SYNC_LEASE_LOST';
  constructor(runId: number, holder: number | null) {
    super(
      `run ${runId} lost its lease to run ${holder ?? '(none)'}: another process took over while this one was stalled; nothing more is written`,
    );
  }
}

/** Makes this run the one allowed to write (called right after the run lock is taken). */
export async function takeLease(db: Queryable, runId: number): Promise<void> {
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
