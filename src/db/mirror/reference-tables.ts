// The reference tables: custom field definitions and the species and breed codelists.
import type pg from 'pg';

/** A reference row: its id, its raw record as JSON text, and the table's typed columns (extra keys are ignored). */
export interface DefinitionRow {
  id: number;
  rawJson: string;
}

// Reference tables are small (tens to a few thousand rows), read once a run: one JSON parameter will do.
const DEFINITION_TABLES = {
  custom_fields: 'id bigint, label text, type text, model text, "rawJson" text',
  species: 'id bigint, name text, "rawJson" text',
  breeds: 'id bigint, name text, species_id bigint, "rawJson" text',
} as const;

/** Upserts a small reference table (custom field definitions, codelists); unchanged rows are not rewritten. */
export async function upsertDefinitions(
  db: pg.PoolClient,
  table: keyof typeof DEFINITION_TABLES,
  rows: readonly DefinitionRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const definition = DEFINITION_TABLES[table];
  const columns = definition
    .split(',')
    .map((c) => c.trim().split(/\s+/)[0]!)
    .filter((c) => c !== '"rawJson"');
  const result = await db.query(
    `INSERT INTO ${table} AS t (${columns.join(', ')}, raw, synced_at)
     SELECT ${columns.join(', ')}, "rawJson"::jsonb, now() FROM jsonb_to_recordset($1::jsonb) AS r(${definition})
     ON CONFLICT (id) DO UPDATE SET ${columns
       .filter((c) => c !== 'id')
       .map((c) => `${c} = excluded.${c}`)
       .join(', ')}, raw = excluded.raw, synced_at = now()
     WHERE t.raw IS DISTINCT FROM excluded.raw`,
    [JSON.stringify(rows)],
  );
  return result.rowCount ?? 0;
}
