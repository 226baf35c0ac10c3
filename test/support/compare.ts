// Field-by-field comparison of the mirror with the simulator's exported state. Returns a list
// of differences (empty when the mirror equals the source), so a failing test says what differs.
import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import { compareTimestamps, mapClient, mapPatient, rawText, type FieldValueRow } from '../../src/sync/rows.js';

type Row = Record<string, unknown>;

/** A mapped custom value as the mirror holds it: value as jsonb (parsed), SQL NULL for none. */
function asMirroredValue(v: FieldValueRow): Row {
  return { ...v, value: v.valueJson === null ? null : JSON.parse(v.valueJson) };
}
type Exported = { clients: Row[]; patients: Row[]; customFields: Row[]; species: Row[]; breeds: Row[] };

const CLIENT_COLUMNS = [
  'title', 'firstname', 'lastname', 'organization_name', 'email', 'customer_type', 'street_address', 'zip_code', 'city',
  'country', 'home_department_id', 'no_sms', 'no_email', 'archived', 'created', 'modified',
] as const;
const PATIENT_COLUMNS = [
  'client_id', 'name', 'species', 'species_code', 'breed', 'breed_code', 'gender', 'weight', 'date_of_birth', 'deceased',
  'microchip', 'color', 'home_department_id', 'archived', 'created', 'modified',
] as const;

function sameValue(column: string, expected: unknown, actual: unknown): boolean {
  if (expected === null || actual === null) return expected === actual;
  if (column === 'created' || column === 'modified') return compareTimestamps(expected as string, (actual as string).replace(/([+-]\d\d)$/, '$1:00')) === 0;
  if (column === 'weight') return Number(expected) === Number(actual);
  if (typeof expected === 'number') return expected === Number(actual);
  return expected === actual;
}

async function rowsById(pool: pg.Pool, sql: string): Promise<Map<number, Row>> {
  const result = await pool.query<Row>(sql);
  return new Map(result.rows.map((r) => [Number(r.id), r]));
}

export interface CompareOptions {
  /**
   * A record hard-deleted at the source stays in the mirror (rows are never dropped) and must carry
   * deleted_at, as reconciliation or a webhook re-fetch leaves it. With this, it may also still lack
   * it: polling cannot see a hard delete, so until a reconciliation such rows linger unflagged.
   */
  deletedMayLinger?: boolean;
  limit?: number;
}

/**
 * Every difference between the mirror and the source, or none. Mirror rows of records the source
 * no longer has are judged as CompareOptions says; their phone numbers and custom field values
 * stay attached to them and are not compared.
 */
export async function mirrorDifferences(pool: pg.Pool, state: Exported, options: CompareOptions = {}): Promise<string[]> {
  const limit = options.limit ?? 20;
  const diffs: string[] = [];
  const add = (d: string) => {
    if (diffs.length < limit) diffs.push(d);
  };

  const clients = await rowsById(pool, 'SELECT * FROM clients');
  const patients = await rowsById(pool, 'SELECT * FROM patients');
  const phones = (await pool.query<Row>('SELECT * FROM phone_numbers ORDER BY id')).rows;
  const values = (await pool.query<Row>('SELECT * FROM custom_field_values ORDER BY object_type, id')).rows;

  const expectedPhones = new Map<number, Row[]>();
  const expectedValues: Row[] = [];
  for (const record of state.clients) {
    const mapped = mapClient(record);
    if (!mapped.ok) {
      add(`client ${String(record.id)} in the source does not map: ${mapped.reject.reason}`);
      continue;
    }
    const row = mapped.row;
    const mirrored = clients.get(row.id);
    if (!mirrored) {
      add(`client ${row.id} missing from the mirror`);
      continue;
    }
    for (const column of CLIENT_COLUMNS) {
      if (!sameValue(column, row[column], mirrored[column])) add(`client ${row.id}.${column}: source ${JSON.stringify(row[column])}, mirror ${JSON.stringify(mirrored[column])}`);
    }
    if (!isDeepStrictEqual(mirrored.raw, JSON.parse(rawText(row.rawJson)))) add(`client ${row.id}.raw differs from the source record`);
    clients.delete(row.id);
    for (const phone of row.phoneNumbers ?? []) expectedPhones.set(phone.id, [phone as unknown as Row]);
    expectedValues.push(...(row.fieldValues ?? []).map(asMirroredValue));
  }
  const goneClients = new Set<number>();
  for (const [id, row] of clients) {
    goneClients.add(id);
    if (row.deleted_at === null && !options.deletedMayLinger) add(`client ${id} is in the mirror but not in the source, and not marked deleted`);
  }

  for (const record of state.patients) {
    const mapped = mapPatient(record);
    if (!mapped.ok) {
      add(`patient ${String(record.id)} in the source does not map: ${mapped.reject.reason}`);
      continue;
    }
    const row = mapped.row;
    const mirrored = patients.get(row.id);
    if (!mirrored) {
      add(`patient ${row.id} missing from the mirror`);
      continue;
    }
    for (const column of PATIENT_COLUMNS) {
      if (!sameValue(column, row[column], mirrored[column])) add(`patient ${row.id}.${column}: source ${JSON.stringify(row[column])}, mirror ${JSON.stringify(mirrored[column])}`);
    }
    if (!isDeepStrictEqual(mirrored.raw, JSON.parse(rawText(row.rawJson)))) add(`patient ${row.id}.raw differs from the source record`);
    patients.delete(row.id);
    expectedValues.push(...(row.fieldValues ?? []).map(asMirroredValue));
  }
  const gonePatients = new Set<number>();
  for (const [id, row] of patients) {
    gonePatients.add(id);
    if (row.deleted_at === null && !options.deletedMayLinger) add(`patient ${id} is in the mirror but not in the source, and not marked deleted`);
  }

  const phoneKey = (p: Row) => `${String(p.id)}:${String(p.client_id)}:${String(p.phone_number)}:${String(p.type_code)}`;
  const wantPhones = [...expectedPhones.values()].flat().map(phoneKey).sort();
  const havePhones = phones.filter((p) => !goneClients.has(Number(p.client_id))).map(phoneKey).sort();
  if (!isDeepStrictEqual(wantPhones, havePhones)) add(`phone numbers differ: source ${wantPhones.length}, mirror ${havePhones.length}`);

  const valueKey = (v: Row) => `${String(v.object_type)}:${String(v.id)}:${String(v.field_id)}:${String(v.object_id)}:${JSON.stringify(v.value)}`;
  const wantValues = expectedValues.map(valueKey).sort();
  const gone = (v: Row) => (v.object_type === 'client' ? goneClients : gonePatients).has(Number(v.object_id));
  const haveValues = values.filter((v) => !gone(v)).map(valueKey).sort();
  if (!isDeepStrictEqual(wantValues, haveValues)) {
    const missing = wantValues.filter((v) => !haveValues.includes(v)).slice(0, 3);
    const extra = haveValues.filter((v) => !wantValues.includes(v)).slice(0, 3);
    add(`custom field values differ: source ${wantValues.length}, mirror ${haveValues.length}; missing ${missing.join(' ')}; extra ${extra.join(' ')}`);
  }

  for (const [table, records] of [['custom_fields', state.customFields], ['species', state.species], ['breeds', state.breeds]] as const) {
    const mirrored = await rowsById(pool, `SELECT id, raw FROM ${table}`);
    for (const record of records) {
      const m = mirrored.get(Number(record.id));
      if (!m || !isDeepStrictEqual(m.raw, record)) add(`${table} ${String(record.id)} missing or different`);
    }
    if (mirrored.size !== records.length) add(`${table}: source ${records.length}, mirror ${mirrored.size}`);
  }
  return diffs;
}
