// Staging tables: the temporary tables a page of changed rows is COPYed into before a merge, and
// the column lists that map their columns onto the mirror table's (raw_json is raw, value_json is
// value).
import type pg from 'pg';
import { copyRows, type CopyColumns, type CopyValue } from '../copy-encoding.js';

/**
 * A staging table: its typed columns in COPY order. Raw records are staged as text and cast to
 * jsonb in the merge (`raw_json::jsonb AS raw`), so a record the merge does not need is never parsed twice.
 */
export interface Staging<Row> {
  table: string;
  columns: ReadonlyArray<readonly [name: string, type: string, value: (row: Row) => CopyValue]>;
}

/**
 * Empties the staging table (creating it on this connection's first use) and COPYs the rows in.
 * Created inside the caller's transaction: if that rolls back, so does the table, and the next
 * call creates it again. ON COMMIT DELETE ROWS leaves it empty for the next transaction.
 */
export async function stage<Row>(db: pg.PoolClient, staging: Staging<Row>, rows: readonly Row[]): Promise<void> {
  const definition = staging.columns.map(([name, type]) => `${name} ${type}`).join(', ');
  await db.query(
    `CREATE TEMP TABLE IF NOT EXISTS ${staging.table} (${definition}) ON COMMIT DELETE ROWS; DELETE FROM ${staging.table}`,
  );
  await copyRows(
    db,
    staging.table,
    staging.columns.map(([name, , value]) => [name, value] as const),
    rows,
  );
}

/**
 * The staged columns under the mirror table's names (raw_json is raw, value_json is value), for
 * COPY straight into the mirror table: the path of rows it does not hold yet, where a merge has
 * nothing to compare against. (The jsonb text is parsed by COPY instead of by a cast.)
 */
export function directColumns<Row>(staging: Staging<Row>): CopyColumns<Row> {
  return staging.columns.map(([name, , value]) => [mirrorColumn(name), value] as const);
}

/** A staged column's name in the mirror table: raw_json is raw, value_json is value. */
function mirrorColumn(staged: string): string {
  return staged.replace(/_json$/, '');
}

/** The staged columns as the mirror table's columns, JSON text cast to jsonb. */
export function mergedColumns(staging: Staging<unknown>): { target: string[]; select: string[] } {
  const names = staging.columns.map(([name]) => name);
  return {
    target: names.map(mirrorColumn),
    select: names.map((n) => (n === mirrorColumn(n) ? n : `${n}::jsonb`)),
  };
}
