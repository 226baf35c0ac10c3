// The rows a client or patient owns: its phone numbers and custom field values. When the upsert
// writes an owner, its rows are replaced by the incoming ones, so a row removed in Provet
// disappears here; an owner not written keeps its own.
import type pg from 'pg';
import { copyRows } from '../copy-encoding.js';
import { customFieldValues, phoneNumbers } from '../schema.js';
import type { WrittenRecord } from './record-upsert.js';
import { directColumns, mergedColumns, stage, stagingOf, type Staging, type WrittenRow } from './staging.js';

type Db = pg.PoolClient;

/** The ids of written records that may have phone numbers or values to replace. */
function mayHaveOwnedRows(owners: readonly WrittenRecord[]): number[] {
  return owners.filter((o) => !o.copiedAsNew).map((o) => o.id);
}

/** A custom value; `valueJson` is null when the entry has none. */
export type FieldValueUpsertRow = WrittenRow<typeof customFieldValues>;

const FIELD_VALUE_STAGING = stagingOf(customFieldValues, 'pg_temp.provet_sync_field_values_in');

/**
 * Replaces the custom field values of the records just written (`owners`, as the upsert returned
 * them) with `values`: a value removed in Provet disappears here. An unchanged record is not
 * written, so it costs nothing here either. `anyKnown`: the upsert's ownedKnown?.fieldValues
 * (null: not known yet, probed here after the delete).
 */
export async function replaceFieldValues(
  db: Db,
  objectType: 'client' | 'patient',
  owners: readonly WrittenRecord[],
  values: readonly FieldValueUpsertRow[],
  anyKnown: boolean | null,
): Promise<void> {
  const known = mayHaveOwnedRows(owners);
  if (known.length > 0) {
    await db.query('DELETE FROM custom_field_values WHERE object_type = $1 AND object_id = ANY($2::bigint[])', [
      objectType,
      known,
    ]);
  }
  await writeOwnedRows(db, 'custom_field_values', FIELD_VALUE_STAGING, ['object_type', 'id'], values, anyKnown, {
    sql: 'SELECT 1 FROM custom_field_values WHERE object_type = $1 AND id = ANY($2::bigint[]) LIMIT 1',
    params: [objectType, values.map((v) => v.id)],
  });
}

/**
 * Writes the rows that belong to records just written (phone numbers, custom values), once the
 * owners' old rows are deleted: COPY straight into the table when it holds none of their keys
 * (`anyKnown` false, or null and the `probe` finds none), else staged and merged on `key` (a phone
 * number can move from one client to another).
 */
async function writeOwnedRows<Row>(
  db: Db,
  table: string,
  staging: Staging<Row>,
  key: readonly string[],
  rows: readonly Row[],
  anyKnown: boolean | null,
  probe: { sql: string; params: unknown[] },
): Promise<void> {
  if (rows.length === 0) return;
  const known = anyKnown ?? (await db.query(probe.sql, probe.params)).rowCount !== 0;
  if (!known) {
    await copyRows(db, table, directColumns(staging), rows);
    return;
  }
  await stage(db, staging, rows);
  const { target, select } = mergedColumns(staging as Staging<unknown>);
  const updates = target.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`);
  await db.query(
    `INSERT INTO ${table} AS t (${target.join(', ')}, synced_at) SELECT ${select.join(', ')}, now() FROM ${staging.table}
     ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${updates.join(', ')}, synced_at = now()`,
  );
}

export type PhoneNumberUpsertRow = WrittenRow<typeof phoneNumbers>;

const PHONE_NUMBER_STAGING = stagingOf(phoneNumbers, 'pg_temp.provet_sync_phone_numbers_in');

/**
 * Replaces the phone numbers of the clients just written (numbers removed in Provet disappear).
 * `anyKnown`: the upsert's ownedKnown?.phoneNumbers (null: not known yet, probed here after the delete).
 */
export async function replacePhoneNumbers(
  db: Db,
  owners: readonly WrittenRecord[],
  numbers: readonly PhoneNumberUpsertRow[],
  anyKnown: boolean | null,
): Promise<void> {
  const known = mayHaveOwnedRows(owners);
  if (known.length > 0) await db.query('DELETE FROM phone_numbers WHERE client_id = ANY($1::bigint[])', [known]);
  await writeOwnedRows(db, 'phone_numbers', PHONE_NUMBER_STAGING, ['id'], numbers, anyKnown, {
    sql: 'SELECT 1 FROM phone_numbers WHERE id = ANY($1::bigint[]) LIMIT 1',
    params: [numbers.map((n) => n.id)],
  });
}
