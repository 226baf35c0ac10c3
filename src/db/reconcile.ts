// Queries for reconciliation and targeted re-fetches: per-range summaries of the mirror, and the
// marking of records that Provet no longer has. Only `clients` and `patients` are ever named here.
import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;
export type RecordTable = 'clients' | 'patients';

export interface RangeSummary {
  count: number;
  /** Latest `modified` in the range, UTC with microseconds, or null for an empty range. */
  maxModified: string | null;
}

/** Rows the mirror holds as live (not deleted) with from <= id < to. */
export async function mirrorRangeSummary(db: Db, table: RecordTable, from: number, to: number): Promise<RangeSummary> {
  const result = await db.query<{ n: string; max_modified: string | null }>(
    `SELECT count(*) AS n,
            to_char(max(modified) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS max_modified
     FROM ${table} WHERE id >= $1 AND id < $2 AND deleted_at IS NULL`,
    [from, to],
  );
  return { count: Number(result.rows[0]?.n ?? 0), maxModified: result.rows[0]?.max_modified ?? null };
}

export async function mirrorLiveIds(db: Db, table: RecordTable, from: number, to: number): Promise<number[]> {
  const result = await db.query<{ id: string }>(
    `SELECT id FROM ${table} WHERE id >= $1 AND id < $2 AND deleted_at IS NULL ORDER BY id`,
    [from, to],
  );
  return result.rows.map((r) => Number(r.id));
}

/** One past the highest id the mirror has ever held (deleted rows included), at least 1. */
export async function mirrorIdCeiling(db: Db, table: RecordTable): Promise<number> {
  const result = await db.query<{ max: string | null }>(`SELECT max(id) AS max FROM ${table}`);
  const max = result.rows[0]?.max;
  return max === null || max === undefined ? 1 : Number(max) + 1;
}

/** Sets deleted_at on rows not already marked; returns the ids newly marked. */
export async function markDeleted(db: pg.PoolClient, table: RecordTable, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const result = await db.query<{ id: string }>(
    `UPDATE ${table} SET deleted_at = now() WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL RETURNING id`,
    [ids],
  );
  return result.rows.map((r) => Number(r.id));
}

/** Clears deleted_at on rows Provet has again (even when their content did not change). */
export async function clearDeleted(db: pg.PoolClient, table: RecordTable, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const result = await db.query<{ id: string }>(
    `UPDATE ${table} SET deleted_at = NULL WHERE id = ANY($1::bigint[]) AND deleted_at IS NOT NULL RETURNING id`,
    [ids],
  );
  return result.rows.map((r) => Number(r.id));
}
