// The queue of clients whose patients must be read again (patient_rereads): it outlives a run
// that fails before reading them, so the next run picks them up.
import type { Queryable } from './connect.js';

export async function queuePatientRereads(db: Queryable, clientIds: readonly number[], runId: number): Promise<void> {
  if (clientIds.length === 0) return;
  await db.query(
    `INSERT INTO patient_rereads (client_id, run_id) SELECT unnest($1::bigint[]), $2 ON CONFLICT (client_id) DO NOTHING`,
    [clientIds, runId],
  );
}

export async function pendingPatientRereads(db: Queryable): Promise<number[]> {
  const result = await db.query<{ client_id: string }>('SELECT client_id FROM patient_rereads ORDER BY client_id');
  return result.rows.map((r) => Number(r.client_id));
}

export async function clearPatientRereads(db: Queryable, clientIds: readonly number[]): Promise<void> {
  await db.query('DELETE FROM patient_rereads WHERE client_id = ANY($1::bigint[])', [clientIds]);
}
