// The versioned upsert of clients and patients, set-based, with COPY, the cheapest way into
// PostgreSQL. A page whose records the table holds none of (a backfill) is COPYed straight into
// it; any other page into a temporary staging table, then merged with one
// INSERT ... SELECT ... ON CONFLICT per table. Each raw record is parsed as jsonb once. (The first
// version sent the page as one JSON parameter to jsonb_to_recordset, which parsed every raw
// record twice and cost the database about twice what COPY does.)
//
// The upsert rule, shared by clients and patients: a row is written only when the incoming
// version is newer (modified later) or is the same version with different content (Provet can
// change a record without moving `modified`, e.g. the archive cascade). An older version never
// replaces a newer one, and re-reading an unchanged record writes nothing.
// One exception: a stored `modified` later than Provet's own clock now can only come from a
// clock that has since stepped back; such stamps order nothing, so different content is taken.
import type pg from 'pg';
import { copyRows } from '../copy-encoding.js';
import { clients, patients } from '../schema.js';
import { directColumns, mergedColumns, stage, stagingOf, type Staging, type WrittenRow } from './staging.js';

type Db = pg.PoolClient;

/**
 * A record's raw JSON: the bytes Provet sent for it (the common case, see provet/raw-records.ts)
 * or JSON text written from the parsed record. Either way PostgreSQL accepts it as jsonb.
 */
export type RawJson = string | Buffer;

export type ClientUpsertRow = WrittenRow<typeof clients, RawJson>;
export type PatientUpsertRow = WrittenRow<typeof patients, RawJson>;

export interface WrittenRecord {
  id: number;
  archived: boolean;
  /** null when the record is new to the mirror (as far as this transaction saw). */
  previousArchived: boolean | null;
  /**
   * Written by COPY straight into the table: no row of it existed, so neither can phone numbers
   * or custom values of it. (A merge's previousArchived can be null for a row another page
   * committed meanwhile, with rows of its own: only this flag is proof.)
   */
  copiedAsNew: boolean;
}

export const CLIENT_STAGING = stagingOf<typeof clients, RawJson>(clients, 'pg_temp.provet_sync_clients_in');
export const PATIENT_STAGING = stagingOf<typeof patients, RawJson>(patients, 'pg_temp.provet_sync_patients_in');

/** The versioned upsert for a mirrored record table (see the rule at the top of this file). */
function versionedMergeSql(table: string, staging: Staging<never>): string {
  const { target, select } = mergedColumns(staging as Staging<unknown>);
  const updates = target.filter((c) => c !== 'id').map((c) => `${c} = excluded.${c}`);
  return `
    WITH previous AS (SELECT t.id, t.archived FROM ${table} t JOIN ${staging.table} USING (id)),
    written AS (
      INSERT INTO ${table} AS t (${target.join(', ')}, archived_seen_at, synced_at)
      SELECT ${select.join(', ')}, CASE WHEN archived THEN now() END, now() FROM ${staging.table}
      ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')},
        archived_seen_at = CASE WHEN excluded.archived THEN coalesce(t.archived_seen_at, now()) END,
        purged_at = NULL,
        synced_at = now()
      WHERE t.modified < excluded.modified
         OR (t.modified = excluded.modified AND t.raw IS DISTINCT FROM excluded.raw)
         OR (t.modified > $1::timestamptz AND t.raw IS DISTINCT FROM excluded.raw)
      RETURNING t.id, t.archived
    )
    SELECT w.id, w.archived, p.archived AS previous_archived FROM written w LEFT JOIN previous p USING (id)`;
}

const MERGE_CLIENTS = versionedMergeSql('clients', CLIENT_STAGING);
const MERGE_PATIENTS = versionedMergeSql('patients', PATIENT_STAGING);

/**
 * The keys of the rows a page's records own (phone numbers, custom values), so that the upsert's
 * probe also asks whether the mirror holds any of them: each question is a round trip, and while
 * a page's transaction waits for its next statement its connection does nothing. They must be the
 * keys of every owned row the caller then passes to replacePhoneNumbers / replaceFieldValues; a
 * key left out could be answered "not known" and COPYed into a conflict that no retry cures.
 */
export interface OwnedKeys {
  phoneNumberIds: readonly number[];
  fieldValueIds: readonly number[];
}

/**
 * Whether the mirror holds any of the owned rows' keys: if not, they are COPYed straight in (see
 * owned-rows.ts). Known only when every record of the page was new (COPYed in as such), so that
 * no owner's old rows are deleted between the probe and the write; null otherwise, and the
 * owned rows are probed after that delete, as its answer would otherwise be out of date (an
 * updated client's own numbers would count as known, and cost a merge instead of a COPY).
 */
interface OwnedKnown {
  phoneNumbers: boolean;
  fieldValues: boolean;
}

export interface UpsertResult {
  written: WrittenRecord[];
  ownedKnown: OwnedKnown | null;
}

/**
 * `providerNow`: Provet's clock at the start of this run (null: unknown, no exception applies).
 * Rows the table does not hold yet (a backfill's pages) are COPYed straight in, as new rows
 * would be by the merge; a page with any known row goes through staging and the merge.
 */
async function versionedUpsert<Row extends { id: number; archived: boolean }>(
  db: Db,
  table: string,
  objectType: 'client' | 'patient',
  staging: Staging<Row>,
  mergeSql: string,
  rows: readonly Row[],
  providerNow: string | null,
  owned: OwnedKeys,
): Promise<UpsertResult> {
  if (rows.length === 0) return { written: [], ownedKnown: null };
  const probe = await db.query<{
    now: string;
    known: number;
    phone_numbers_known: boolean;
    field_values_known: boolean;
  }>(
    `SELECT now()::text AS now,
            (SELECT count(*) FROM ${table} WHERE id = ANY($1::bigint[]))::int AS known,
            EXISTS (SELECT 1 FROM phone_numbers WHERE id = ANY($2::bigint[])) AS phone_numbers_known,
            EXISTS (SELECT 1 FROM custom_field_values WHERE object_type = $3 AND id = ANY($4::bigint[])) AS field_values_known`,
    [rows.map((r) => r.id), owned.phoneNumberIds, objectType, owned.fieldValueIds],
  );
  const { now, known, phone_numbers_known: phoneNumbers, field_values_known: fieldValues } = probe.rows[0]!;
  if (known === 0) {
    await copyRows(
      db,
      table,
      [...directColumns(staging), ['archived_seen_at', (r: Row) => (r.archived ? now : null)]],
      rows,
    );
    return {
      written: rows.map((r) => ({ id: r.id, archived: r.archived, previousArchived: null, copiedAsNew: true })),
      ownedKnown: { phoneNumbers, fieldValues },
    };
  }
  await stage(db, staging, rows);
  const result = await db.query<{ id: string; archived: boolean; previous_archived: boolean | null }>({
    text: mergeSql,
    values: [providerNow],
  });
  return {
    written: result.rows.map((r) => ({
      id: Number(r.id),
      archived: r.archived,
      previousArchived: r.previous_archived,
      copiedAsNew: false,
    })),
    ownedKnown: null,
  };
}

export function upsertClients(
  db: Db,
  rows: readonly ClientUpsertRow[],
  providerNow: string | null,
  owned: OwnedKeys,
): Promise<UpsertResult> {
  return versionedUpsert(db, 'clients', 'client', CLIENT_STAGING, MERGE_CLIENTS, rows, providerNow, owned);
}

export function upsertPatients(
  db: Db,
  rows: readonly PatientUpsertRow[],
  providerNow: string | null,
  owned: OwnedKeys,
): Promise<UpsertResult> {
  return versionedUpsert(db, 'patients', 'patient', PATIENT_STAGING, MERGE_PATIENTS, rows, providerNow, owned);
}
