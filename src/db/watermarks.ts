// Each stream's watermark in sync_state: the `modified` an incremental read of it starts from.
import type pg from 'pg';
import type { Queryable } from './connect.js';

export type StreamName = 'clients' | 'patients' | 'custom_fields' | 'species' | 'breeds';

/** Watermarks as ISO strings (microseconds kept), by stream. */
export async function readWatermarks(db: Queryable): Promise<Map<string, string>> {
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
