// What readiness and the metrics read from the database: is it there, when did the last poll
// land, is a run stuck, how far behind is each watermark.
import type pg from 'pg';

/** `SELECT 1`, failing after timeoutMs even when the pool cannot get a connection at all. */
export async function pingDatabase(pool: pg.Pool, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const query = pool.query('SELECT 1');
  query.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
  try {
    await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunFreshness {
  /** Seconds since the last scheduled poll (full or incremental) that landed; null: none ever. */
  lastLandedAgeSeconds: number | null;
  /** The newest run of any kind, when it is still 'running': for how long. */
  runningForSeconds: number | null;
}

export async function readRunFreshness(db: pg.Pool): Promise<RunFreshness> {
  const result = await db.query<{ landed_age: number | null; running_for: number | null }>(
    `SELECT
       (SELECT extract(epoch FROM now() - max(finished_at))::float8 FROM sync_runs
         WHERE kind IN ('full', 'incremental') AND status IN ('succeeded', 'partial')) AS landed_age,
       (SELECT CASE WHEN status = 'running' THEN extract(epoch FROM now() - started_at)::float8 END
         FROM sync_runs ORDER BY id DESC LIMIT 1) AS running_for`,
  );
  const row = result.rows[0];
  return { lastLandedAgeSeconds: row?.landed_age ?? null, runningForSeconds: row?.running_for ?? null };
}

/** Seconds each stream's watermark is behind the database clock. */
export async function readWatermarkLag(db: pg.Pool): Promise<{ stream: string; lagSeconds: number }[]> {
  const result = await db.query<{ stream: string; lag: number }>(
    `SELECT stream, extract(epoch FROM now() - watermark)::float8 AS lag FROM sync_state WHERE watermark IS NOT NULL`,
  );
  return result.rows.map((r) => ({ stream: r.stream, lagSeconds: Number(r.lag) }));
}
