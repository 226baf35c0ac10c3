// Records a run could not store, kept in sync_rejects with the reason and the record as received.
import type { Queryable } from './connect.js';

export interface RejectRow {
  recordId: string | null;
  reason: string;
  payload: string;
}

export async function recordRejects(
  db: Queryable,
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
