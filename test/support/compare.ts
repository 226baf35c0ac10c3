// Field-by-field comparison of the mirror with the simulator's exported state. Returns a list
// of differences (empty when the mirror equals the source), so a failing test says what differs.
//
// An oracle that shares no code with what it checks: every expected column is derived here,
// straight from the records as the API renders them (Simulator.exportState()), by the rules the
// mirror is specified to follow (README "What the mirror holds", the column comments, the record
// notes in docs/simulator.md), not by the product's mappers (src/sync/rows.ts) or record schemas
// (src/provet/records.ts). A mapping bug there therefore shows up here as a difference instead of
// on both sides of the comparison. The mirror's side is read with SQL that renders each value in
// a form that needs no interpretation (timestamps as integer microseconds since the epoch, dates
// and numbers as text), so that no type parser the product installs decides what is compared.
import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';

type Row = Record<string, unknown>;
type Exported = { clients: Row[]; patients: Row[]; customFields: Row[]; species: Row[]; breeds: Row[] };

// ---- What a column holds, derived from a field of the record as sent ----

/** A value the derivation does not know how to store: always a difference. */
class Unexpected {
  constructor(readonly value: unknown) {}
  toJSON(): string {
    return `<unexpected ${JSON.stringify(this.value)}>`;
  }
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === '';

/**
 * PostgreSQL stores neither NUL nor lone UTF-16 surrogates; the mirror stores U+FFFD in their
 * place (in keys as in values) and keeps everything else.
 */
function storable(value: unknown): unknown {
  if (typeof value === 'string') {
    let out = '';
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (
        c >= 0xd800 &&
        c <= 0xdbff &&
        i + 1 < value.length &&
        value.charCodeAt(i + 1) >= 0xdc00 &&
        value.charCodeAt(i + 1) <= 0xdfff
      ) {
        out += value[i]! + value[i + 1]!;
        i++;
      } else if (c === 0 || (c >= 0xd800 && c <= 0xdfff)) {
        out += '\uFFFD';
      } else {
        out += value[i]!;
      }
    }
    return out;
  }
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    const out: Row = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, storable(k) as string, {
        value: storable(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return value;
}

/** text column: a string as it is ("" is null), a number or boolean as its text. */
function text(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'string') return storable(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return new Unexpected(v);
}

/** integer column: a number, or digits sent as a string. */
function integer(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return new Unexpected(v);
}

/** boolean column: true/false, or Django's "True"/"False" (or lower case) as strings. */
function flag(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'boolean') return v;
  if (v === 'True' || v === 'true') return true;
  if (v === 'False' || v === 'false') return false;
  return new Unexpected(v);
}

/** A foreign key: an absolute URL whose last path segment is the id, or the id itself. */
function reference(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const last =
      v
        .split('/')
        .filter((segment) => segment !== '')
        .pop() ?? '';
    if (/^\d+$/.test(last)) return Number(last);
  }
  return new Unexpected(v);
}

/** numeric column: compared as a number ("32.50" and 32.5 are the same weight). */
function decimal(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return new Unexpected(v);
}

/** date column: YYYY-MM-DD as sent. */
function calendarDate(v: unknown): unknown {
  if (isEmpty(v)) return null;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  return new Unexpected(v);
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2}):?(\d{2})?)$/;

/** timestamptz column: the instant, as integer microseconds since the epoch (as text, exact). */
function instant(v: unknown): unknown {
  if (isEmpty(v)) return null;
  const m = typeof v === 'string' ? INSTANT.exec(v) : null;
  if (!m) return new Unexpected(v);
  const [, y, mo, d, h, mi, s = '0', frac = '', zone, sign, oh = '0', om = '0'] = m;
  const wallMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const offsetMinutes = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const micros = BigInt(wallMs) * 1000n + BigInt(frac.padEnd(6, '0')) - BigInt(offsetMinutes) * 60_000_000n;
  return micros.toString();
}

/** archived: a missing or empty flag is false (the column is NOT NULL). */
function archivedFlag(v: unknown): unknown {
  const f = flag(v);
  return f === null ? false : f;
}

/** id of a record or nested entry: a positive integer, or its digits. */
function recordId(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

// ---- Columns of each table: the source field each is derived from, and how ----

type Derive = (record: Row) => unknown;
const from =
  (field: string, rule: (v: unknown) => unknown): Derive =>
  (record) =>
    rule(record[field]);

const CLIENT_COLUMNS: Record<string, Derive> = {
  title: from('title', text),
  firstname: from('firstname', text),
  lastname: from('lastname', text),
  organization_name: from('organization_name', text),
  email: from('email', text),
  customer_type: from('customer_type', integer),
  street_address: from('street_address', text),
  zip_code: from('zip_code', text),
  city: from('city', text),
  country: from('country', text),
  home_department_id: from('home_department', reference),
  no_sms: from('no_sms', flag),
  no_email: from('no_email', flag),
  archived: from('archived', archivedFlag),
  created: from('created', instant),
  modified: from('modified', instant),
};

const PATIENT_COLUMNS: Record<string, Derive> = {
  client_id: from('client', reference),
  name: from('name', text),
  species: from('species', text),
  species_code: from('species_code', integer),
  breed: from('breed', text),
  breed_code: from('breed_code', integer),
  gender: from('gender', text),
  weight: from('weight', decimal),
  date_of_birth: from('date_of_birth', calendarDate),
  deceased: from('deceased', calendarDate),
  microchip: from('microchip', text),
  color: from('color', text),
  home_department_id: from('home_department', reference),
  archived: from('archived', archivedFlag),
  created: from('created', instant),
  modified: from('modified', instant),
};

/**
 * The mirror's rows, each column in the form the derivations above produce: timestamps as integer
 * microseconds since the epoch, numbers as numbers (bigint and numeric arrive as text), dates as text.
 */
const CLIENTS_SQL = `
  SELECT id::text AS id, title, firstname, lastname, organization_name, email, customer_type, street_address, zip_code, city,
    country, home_department_id::text AS home_department_id, no_sms, no_email, archived,
    (archived_seen_at IS NOT NULL) AS archived_seen, (deleted_at IS NOT NULL) AS deleted,
    (extract(epoch FROM created) * 1000000)::bigint::text AS created, (extract(epoch FROM modified) * 1000000)::bigint::text AS modified, raw
  FROM clients`;
const PATIENTS_SQL = `
  SELECT id::text AS id, client_id::text AS client_id, name, species, species_code::text AS species_code, breed,
    breed_code::text AS breed_code, gender, weight::text AS weight, date_of_birth::text AS date_of_birth, deceased::text AS deceased,
    microchip, color, home_department_id::text AS home_department_id, archived,
    (archived_seen_at IS NOT NULL) AS archived_seen, (deleted_at IS NOT NULL) AS deleted,
    (extract(epoch FROM created) * 1000000)::bigint::text AS created, (extract(epoch FROM modified) * 1000000)::bigint::text AS modified, raw
  FROM patients`;

/** Integer-valued and numeric columns come back as text; everything else is compared as it is. */
const NUMERIC_COLUMNS = new Set([
  'home_department_id',
  'client_id',
  'species_code',
  'breed_code',
  'weight',
  'customer_type',
  'species_id',
]);

/** A value for a difference's message: an instant (microseconds since the epoch) as UTC ISO text. */
function show(column: string, v: unknown): string {
  if ((column === 'created' || column === 'modified') && typeof v === 'string' && /^-?\d+$/.test(v)) {
    const micros = BigInt(v);
    const ms = micros / 1000n;
    return `${new Date(Number(ms)).toISOString().slice(0, -1)}${String(micros - ms * 1000n).padStart(3, '0')}Z`;
  }
  return JSON.stringify(v);
}

function sameValue(column: string, expected: unknown, actual: unknown): boolean {
  if (expected instanceof Unexpected) return false;
  if (expected === null || actual === null) return expected === actual;
  if (NUMERIC_COLUMNS.has(column)) return expected === Number(actual);
  return expected === actual;
}

/** JSON with object keys sorted (jsonb keeps its own key order), for comparing sets of values. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Row)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** A nested phone number's type as the mirror's type_code: 0 landline, 1 mobile. */
function phoneTypeCode(entry: Row): unknown {
  if (!isEmpty(entry.type_code)) return integer(entry.type_code);
  if (isEmpty(entry.type)) return null;
  if (typeof entry.type !== 'string') return new Unexpected(entry.type);
  const type = entry.type.toLowerCase();
  return type === 'mobile' ? 1 : type === 'landline' ? 0 : null;
}

/** The phone numbers a client record carries (nested, with other names than phonenumber/), as mirror rows. */
function expectedPhoneNumbers(clientId: number, record: Row): Row[] | Unexpected {
  const nested = record.phone_numbers;
  if (nested === undefined || nested === null) return [];
  if (!Array.isArray(nested)) return new Unexpected(nested);
  return nested.map((entry: Row) => ({
    id: recordId(entry.id),
    client_id: clientId,
    phone_number: text(entry.number ?? entry.phone_number),
    type_code: phoneTypeCode(entry),
    description: text(entry.description),
  }));
}

/** The custom field values a record carries in fields_rel, as mirror rows. */
function expectedFieldValues(objectType: 'client' | 'patient', objectId: number, record: Row): Row[] | Unexpected {
  const entries = record.fields_rel;
  if (entries === undefined || entries === null) return [];
  if (!Array.isArray(entries)) return new Unexpected(entries);
  return entries.map((entry: Row) => ({
    object_type: objectType,
    id: recordId(entry.id),
    field_id: recordId(entry.field_id),
    object_id: objectId,
    label: text(entry.label),
    value: entry.value === undefined || entry.value === null ? null : storable(entry.value),
  }));
}

const phoneKey = (p: Row) => canonical([p.id, p.client_id, p.phone_number, p.type_code, p.description]);
const valueKey = (v: Row) => canonical([v.object_type, v.id, v.field_id, v.object_id, v.label, v.value]);

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
export async function mirrorDifferences(
  pool: pg.Pool,
  state: Exported,
  options: CompareOptions = {},
): Promise<string[]> {
  const limit = options.limit ?? 20;
  const diffs: string[] = [];
  const add = (d: string) => {
    if (diffs.length < limit) diffs.push(d);
  };

  const byId = (rows: Row[]) => new Map(rows.map((r) => [Number(r.id), r]));
  const clients = byId((await pool.query<Row>(CLIENTS_SQL)).rows);
  const patients = byId((await pool.query<Row>(PATIENTS_SQL)).rows);
  const phones = (
    await pool.query<Row>(
      'SELECT id::float8 AS id, client_id::float8 AS client_id, phone_number, type_code, description FROM phone_numbers',
    )
  ).rows;
  const values = (
    await pool.query<Row>(
      'SELECT object_type, id::float8 AS id, field_id::float8 AS field_id, object_id::float8 AS object_id, label, value FROM custom_field_values',
    )
  ).rows;

  const expectedPhones: Row[] = [];
  const expectedValues: Row[] = [];

  const compareRecords = (
    kind: 'client' | 'patient',
    records: Row[],
    mirror: Map<number, Row>,
    columns: Record<string, Derive>,
    owned: (id: number, record: Row) => void,
  ): Set<number> => {
    for (const record of records) {
      const id = recordId(record.id);
      if (id === null) {
        add(`${kind} ${JSON.stringify(record.id)} in the source has no usable id`);
        continue;
      }
      const mirrored = mirror.get(id);
      if (!mirrored) {
        add(`${kind} ${id} missing from the mirror`);
        continue;
      }
      mirror.delete(id);
      for (const [column, derive] of Object.entries(columns)) {
        const expected = derive(record);
        if (!sameValue(column, expected, mirrored[column]))
          add(`${kind} ${id}.${column}: source ${show(column, expected)}, mirror ${show(column, mirrored[column])}`);
      }
      if (mirrored.deleted) add(`${kind} ${id} is in the source but marked deleted in the mirror`);
      if (mirrored.archived_seen !== (mirrored.archived === true))
        add(`${kind} ${id}.archived_seen_at does not follow archived (${String(mirrored.archived)})`);
      if (!isDeepStrictEqual(mirrored.raw, storable(record))) add(`${kind} ${id}.raw differs from the source record`);
      owned(id, record);
    }
    // What is left in the mirror is not in the source.
    const gone = new Set<number>();
    for (const [id, row] of mirror) {
      gone.add(id);
      if (!row.deleted && !options.deletedMayLinger)
        add(`${kind} ${id} is in the mirror but not in the source, and not marked deleted`);
    }
    return gone;
  };

  const collect = (kind: string, id: number, what: string, rows: Row[] | Unexpected, into: Row[]) => {
    if (rows instanceof Unexpected) add(`${kind} ${id}.${what} in the source is not a list: ${JSON.stringify(rows)}`);
    else into.push(...rows);
  };
  const goneClients = compareRecords('client', state.clients, clients, CLIENT_COLUMNS, (id, record) => {
    collect('client', id, 'phone_numbers', expectedPhoneNumbers(id, record), expectedPhones);
    collect('client', id, 'fields_rel', expectedFieldValues('client', id, record), expectedValues);
  });
  const gonePatients = compareRecords('patient', state.patients, patients, PATIENT_COLUMNS, (id, record) => {
    collect('patient', id, 'fields_rel', expectedFieldValues('patient', id, record), expectedValues);
  });

  const differ = (what: string, want: string[], have: string[]) => {
    want.sort();
    have.sort();
    if (isDeepStrictEqual(want, have)) return;
    const haveSet = new Set(have);
    const wantSet = new Set(want);
    const missing = want.filter((k) => !haveSet.has(k)).slice(0, 3);
    const extra = have.filter((k) => !wantSet.has(k)).slice(0, 3);
    add(
      `${what} differ: source ${want.length}, mirror ${have.length}; missing ${missing.join(' ')}; extra ${extra.join(' ')}`,
    );
  };
  differ(
    'phone numbers',
    expectedPhones.map(phoneKey),
    phones.filter((p) => !goneClients.has(Number(p.client_id))).map(phoneKey),
  );
  const goneOwner = (v: Row) => (v.object_type === 'client' ? goneClients : gonePatients).has(Number(v.object_id));
  differ('custom field values', expectedValues.map(valueKey), values.filter((v) => !goneOwner(v)).map(valueKey));

  // Reference tables: the typed columns as well as the raw record.
  const references: [table: string, records: Row[], columns: Record<string, Derive>][] = [
    [
      'custom_fields',
      state.customFields,
      { label: (r) => text(r.label ?? r.name), type: from('type', text), model: from('model', text) },
    ],
    ['species', state.species, { name: (r) => text(r.name ?? r.label) }],
    [
      'breeds',
      state.breeds,
      {
        name: (r) => text(r.name ?? r.label),
        species_id: (r) => reference(r.species ?? r.species_id ?? r.species_code),
      },
    ],
  ];
  for (const [table, records, columns] of references) {
    const select = Object.keys(columns)
      .map((c) => (c === 'species_id' ? 'species_id::text AS species_id' : c))
      .join(', ');
    const mirrored = byId((await pool.query<Row>(`SELECT id::text AS id, ${select}, raw FROM ${table}`)).rows);
    for (const record of records) {
      const id = recordId(record.id);
      const m = id === null ? undefined : mirrored.get(id);
      if (!m || !isDeepStrictEqual(m.raw, storable(record))) {
        add(`${table} ${String(record.id)} missing or different`);
        continue;
      }
      for (const [column, derive] of Object.entries(columns)) {
        const expected = derive(record);
        if (!sameValue(column, expected, m[column]))
          add(`${table} ${id}.${column}: source ${JSON.stringify(expected)}, mirror ${JSON.stringify(m[column])}`);
      }
    }
    if (mirrored.size !== records.length) add(`${table}: source ${records.length}, mirror ${mirrored.size}`);
  }
  return diffs;
}
