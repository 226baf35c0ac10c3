// Set-based writes of mirrored records: one statement per page and table. Rows travel as one
// JSON parameter unpacked by jsonb_to_recordset, which keeps the statement text fixed (so the
// server can cache its plan) whatever the page size.
//
// The upsert rule, shared by clients and patients: a row is written only when the incoming
// version is newer (modified later) or is the same version with different content (Provet can
// change a record without moving `modified`, e.g. the archive cascade). An older version never
// replaces a newer one, and re-reading an unchanged record writes nothing.
// One exception: a stored `modified` later than Provet's own clock now can only come from a
// clock that has since stepped back; such stamps order nothing, so different content is taken.
import type pg from 'pg';

type Db = pg.PoolClient;

export interface ClientUpsertRow {
  id: number;
  title: string | null;
  firstname: string | null;
  lastname: string | null;
  organization_name: string | null;
  email: string | null;
  customer_type: number | null;
  street_address: string | null;
  zip_code: string | null;
  city: string | null;
  country: string | null;
  home_department_id: number | null;
  no_sms: boolean | null;
  no_email: boolean | null;
  archived: boolean;
  created: string | null;
  modified: string;
  raw: unknown;
}

export interface PatientUpsertRow {
  id: number;
  client_id: number | null;
  name: string | null;
  species: string | null;
  species_code: number | null;
  breed: string | null;
  breed_code: number | null;
  gender: string | null;
  weight: string | null;
  date_of_birth: string | null;
  deceased: string | null;
  microchip: string | null;
  color: string | null;
  home_department_id: number | null;
  archived: boolean;
  created: string | null;
  modified: string;
  raw: unknown;
}

export interface WrittenRecord {
  id: number;
  archived: boolean;
  /** null when the record is new to the mirror. */
  previousArchived: boolean | null;
}

const CLIENT_COLUMNS = `id bigint, title text, firstname text, lastname text, organization_name text, email text,
  customer_type integer, street_address text, zip_code text, city text, country text, home_department_id bigint,
  no_sms boolean, no_email boolean, archived boolean, created timestamptz, modified timestamptz, raw jsonb`;

const PATIENT_COLUMNS = `id bigint, client_id bigint, name text, species text, species_code bigint, breed text,
  breed_code bigint, gender text, weight numeric, date_of_birth date, deceased date, microchip text, color text,
  home_department_id bigint, archived boolean, created timestamptz, modified timestamptz, raw jsonb`;

function columnNames(definition: string): string[] {
  return definition.split(',').map((c) => c.trim().split(/\s+/)[0]!);
}

/** The versioned upsert for a mirrored record table (see the rule at the top of this file). */
function versionedUpsertSql(table: string, definition: string): string {
  const columns = columnNames(definition);
  const updates = columns.filter((c) => c !== 'id').map((c) => `${c} = excluded.${c}`);
  return `
    WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${definition})),
    previous AS (SELECT t.id, t.archived FROM ${table} t JOIN input USING (id)),
    written AS (
      INSERT INTO ${table} AS t (${columns.join(', ')}, archived_seen_at, synced_at)
      SELECT ${columns.join(', ')}, CASE WHEN archived THEN now() END, now() FROM input
      ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')},
        archived_seen_at = CASE WHEN excluded.archived THEN coalesce(t.archived_seen_at, now()) END,
        synced_at = now()
      WHERE t.modified < excluded.modified
         OR (t.modified = excluded.modified AND t.raw IS DISTINCT FROM excluded.raw)
         OR (t.modified > $2::timestamptz AND t.raw IS DISTINCT FROM excluded.raw)
      RETURNING t.id, t.archived
    )
    SELECT w.id, w.archived, p.archived AS previous_archived FROM written w LEFT JOIN previous p USING (id)`;
}

const UPSERT_CLIENTS = versionedUpsertSql('clients', CLIENT_COLUMNS);
const UPSERT_PATIENTS = versionedUpsertSql('patients', PATIENT_COLUMNS);

/** `providerNow`: Provet's clock at the start of this run (null: unknown, no exception applies). */
async function versionedUpsert(db: Db, sql: string, rows: readonly object[], providerNow: string | null): Promise<WrittenRecord[]> {
  if (rows.length === 0) return [];
  const result = await db.query<{ id: string; archived: boolean; previous_archived: boolean | null }>(sql, [
    JSON.stringify(rows),
    providerNow,
  ]);
  return result.rows.map((r) => ({ id: Number(r.id), archived: r.archived, previousArchived: r.previous_archived }));
}

export function upsertClients(db: Db, rows: readonly ClientUpsertRow[], providerNow: string | null): Promise<WrittenRecord[]> {
  return versionedUpsert(db, UPSERT_CLIENTS, rows, providerNow);
}

export function upsertPatients(db: Db, rows: readonly PatientUpsertRow[], providerNow: string | null): Promise<WrittenRecord[]> {
  return versionedUpsert(db, UPSERT_PATIENTS, rows, providerNow);
}

export interface FieldValueUpsertRow {
  object_type: 'client' | 'patient';
  id: number;
  field_id: number;
  object_id: number;
  label: string | null;
  value: unknown;
  raw: unknown;
}

/**
 * Replaces the custom field values of the given records with `values`: a value removed in
 * Provet disappears here. Only called for records whose row was just written, so an unchanged
 * record costs nothing.
 */
export async function replaceFieldValues(
  db: Db,
  objectType: 'client' | 'patient',
  objectIds: readonly number[],
  values: readonly FieldValueUpsertRow[],
): Promise<void> {
  if (objectIds.length === 0) return;
  await db.query('DELETE FROM custom_field_values WHERE object_type = $1 AND object_id = ANY($2::bigint[])', [
    objectType,
    objectIds,
  ]);
  if (values.length === 0) return;
  await db.query(
    `INSERT INTO custom_field_values AS t (object_type, id, field_id, object_id, label, value, raw, synced_at)
     SELECT object_type, id, field_id, object_id, label, value, raw, now()
     FROM jsonb_to_recordset($1::jsonb) AS r(object_type text, id bigint, field_id bigint, object_id bigint,
       label text, value jsonb, raw jsonb)
     ON CONFLICT (object_type, id) DO UPDATE SET field_id = excluded.field_id, object_id = excluded.object_id,
       label = excluded.label, value = excluded.value, raw = excluded.raw, synced_at = now()`,
    [JSON.stringify(values.map((v) => ({ ...v, value: v.value ?? null })))],
  );
}

export interface PhoneNumberUpsertRow {
  id: number;
  client_id: number;
  phone_number: string | null;
  type_code: number | null;
  description: string | null;
  raw: unknown;
}

/** Replaces the phone numbers of the given clients (numbers removed in Provet disappear). */
export async function replacePhoneNumbers(
  db: Db,
  clientIds: readonly number[],
  numbers: readonly PhoneNumberUpsertRow[],
): Promise<void> {
  if (clientIds.length === 0) return;
  await db.query('DELETE FROM phone_numbers WHERE client_id = ANY($1::bigint[])', [clientIds]);
  if (numbers.length === 0) return;
  await db.query(
    `INSERT INTO phone_numbers AS t (id, client_id, phone_number, type_code, description, raw, synced_at)
     SELECT id, client_id, phone_number, type_code, description, raw, now()
     FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, client_id bigint, phone_number text, type_code integer,
       description text, raw jsonb)
     ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, phone_number = excluded.phone_number,
       type_code = excluded.type_code, description = excluded.description, raw = excluded.raw, synced_at = now()`,
    [JSON.stringify(numbers)],
  );
}

/** A reference row: its id, its raw record, and the table's typed columns (extra keys are ignored). */
export interface DefinitionRow {
  id: number;
  raw: unknown;
}

const DEFINITION_TABLES = {
  custom_fields: 'id bigint, label text, type text, model text, raw jsonb',
  species: 'id bigint, name text, raw jsonb',
  breeds: 'id bigint, name text, species_id bigint, raw jsonb',
} as const;

/** Upserts a small reference table (custom field definitions, codelists); unchanged rows are not rewritten. */
export async function upsertDefinitions(
  db: Db,
  table: keyof typeof DEFINITION_TABLES,
  rows: readonly DefinitionRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const definition = DEFINITION_TABLES[table];
  const columns = columnNames(definition);
  const result = await db.query(
    `INSERT INTO ${table} AS t (${columns.join(', ')}, synced_at)
     SELECT ${columns.join(', ')}, now() FROM jsonb_to_recordset($1::jsonb) AS r(${definition})
     ON CONFLICT (id) DO UPDATE SET ${columns
       .filter((c) => c !== 'id')
       .map((c) => `${c} = excluded.${c}`)
       .join(', ')}, synced_at = now()
     WHERE t.raw IS DISTINCT FROM excluded.raw`,
    [JSON.stringify(rows)],
  );
  return result.rowCount ?? 0;
}
