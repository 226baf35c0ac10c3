// zod schemas of the records the Provet API sends. Lenient where the real API is known to wobble
// ("" and null for the same empty field, numbers sent as strings, unknown new fields), strict
// where a wrong value would corrupt the mirror (ids, modified timestamps, dates PostgreSQL must
// accept). A record that fails is rejected alone; its page still lands.
// The schemas cover the fields the mirror has columns for. Every other field is kept as it came in
// the record's raw JSON; z.object leaves them out of the parsed view, which is cheaper than
// copying them (the mapping of a page is on the sync's critical path).
//
// Fast paths: validating a page of 1000 clients with zod takes about 7 ms, most of it zod's
// machinery around each field (a preprocess step, a pipe, a nullable wrapper) rather than the
// checks themselves, and it is on the sync's critical path. So each kind of field has, beside its
// zod type, a fast check that runs the same checks on the shapes Provet actually sends: a field
// holding what its column wants (a string, a safe integer, a boolean, a well-formed timestamp,
// date or URL, null or "") is taken as is; anything else (a number sent as a string, a bad value,
// a missing required field) makes the fast path give up, and the record goes through zod, which
// decides and words the error. So a fast check may only accept what the zod type accepts, with the
// same result; it never rejects. test/unit/fast-records.test.ts checks exactly that against the
// schemas, on generated records. Each record lists its fields once, as pairs of the two, so that
// a field added to one cannot be missing from the other.
import { z } from 'zod';

/** Larger records are refused: no clinic record is this big, and one must not exhaust memory. */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** Returned by a fast check that leaves the value to zod. */
const ASK_ZOD = Symbol('ask zod');
type FieldCheck = (v: unknown) => unknown;

const empty = (v: unknown) => v === null || v === undefined || v === '';

/** text column: strings as they are, numbers/booleans as their text, "" and null as null. */
const text = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string().max(100_000).nullable(),
);
const fastText: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && v.length <= 100_000 ? v : ASK_ZOD;

const flag = z.preprocess((v) => {
  if (empty(v)) return null;
  if (v === 'true' || v === 'True') return true;
  if (v === 'false' || v === 'False') return false;
  return v;
}, z.boolean().nullable());
const fastFlag: FieldCheck = (v) => (v === null || v === '' ? null : typeof v === 'boolean' ? v : ASK_ZOD);

const int = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'string' && /^-?\d{1,15}$/.test(v) ? Number(v) : v),
  z
    .number()
    .int()
    .min(-(2 ** 53))
    .max(2 ** 53)
    .nullable(),
);
const fastInt: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'number' && Number.isSafeInteger(v) ? v : ASK_ZOD;

const recordId = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'id must be a positive integer' })
    .int()
    .positive()
    .max(2 ** 53),
);
const fastRecordId: FieldCheck = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : ASK_ZOD);

/** ISO 8601 with an explicit offset and up to microseconds, as Provet sends created/modified. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
const timestamp = z
  .string({ error: 'must be an ISO 8601 timestamp' })
  .regex(TIMESTAMP, 'must be an ISO 8601 timestamp with an offset')
  .refine((s) => !Number.isNaN(Date.parse(s.replace(' ', 'T'))), 'is not a real date and time');
const fastTimestamp: FieldCheck = (v) =>
  typeof v === 'string' && TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T'))) ? v : ASK_ZOD;

const optionalTimestamp = z.preprocess((v) => (empty(v) ? null : v), timestamp.nullable());
const fastOptionalTimestamp: FieldCheck = (v) => (v === null || v === '' ? null : fastTimestamp(v));

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Days in each month of a common year. */
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/**
 * A YYYY-MM-DD date that exists in the (proleptic Gregorian) calendar: "2024-02-30" and
 * "2024-13-01" do not. Counted out rather than put through Date, which costs several times as
 * much and rolls "2024-02-30" over to March, and this runs for every date of every patient.
 */
function isCalendarDate(s: string): boolean {
  if (!DATE.test(s)) return false;
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(5, 7));
  const day = Number(s.slice(8, 10));
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : MONTH_DAYS[month - 1]!);
}
/** A calendar date PostgreSQL will accept ("2024-02-30" is refused here, not by the database). */
const date = z.preprocess(
  (v) => (empty(v) ? null : v),
  z.string().regex(DATE, 'must be a YYYY-MM-DD date').refine(isCalendarDate, 'is not a real calendar date').nullable(),
);
const fastDate: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && isCalendarDate(v) ? v : ASK_ZOD;

const DECIMAL = /^-?\d{1,20}(\.\d{1,20})?$/;
const decimal = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'number' && Number.isFinite(v) ? String(v) : v),
  z.string().regex(DECIMAL, 'must be a decimal number').nullable(),
);
const fastDecimal: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && DECIMAL.test(v) ? v : ASK_ZOD;

const REFERENCE_URL = /\/(\d{1,15})\/?$/;
const REFERENCE_ID = /^(\d{1,15})$/;
/** Foreign keys come as absolute URLs (".../client/218/"); the id is the last path segment. */
const reference = z.preprocess(
  (v) => {
    if (empty(v)) return null;
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      const m = REFERENCE_URL.exec(v) ?? REFERENCE_ID.exec(v);
      return m ? Number(m[1]) : v;
    }
    return v;
  },
  z.number({ error: 'must be a record URL or id' }).int().positive().nullable(),
);
const fastReference: FieldCheck = (v) => {
  if (v === null || v === '') return null;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : ASK_ZOD;
  if (typeof v !== 'string') return ASK_ZOD;
  const m = REFERENCE_URL.exec(v) ?? REFERENCE_ID.exec(v);
  const id = m ? Number(m[1]) : 0;
  return id > 0 ? id : ASK_ZOD;
};

// ---- A record's fields, each a zod type and its fast check ----

interface Field<Z extends z.ZodType> {
  zod: Z;
  fast: FieldCheck;
  required: boolean;
}

const required = <Z extends z.ZodType>(zod: Z, fast: FieldCheck): Field<Z> => ({ zod, fast, required: true });
const optional = <Z extends z.ZodType>(zod: Z, fast: FieldCheck): Field<z.ZodOptional<Z>> => ({
  zod: zod.optional(),
  fast,
  required: false,
});

const ID = required(recordId, fastRecordId);
const TEXT = optional(text, fastText);
const INT = optional(int, fastInt);
const FLAG = optional(flag, fastFlag);
const REFERENCE = optional(reference, fastReference);
const DAY = optional(date, fastDate);
const CREATED = optional(optionalTimestamp, fastOptionalTimestamp);
const MODIFIED = required(timestamp, fastTimestamp);

/** A record's zod object and its fast path, built from one list of fields. */
interface RecordSpec<S extends z.ZodRawShape> {
  schema: z.ZodObject<S>;
  /** The schema's result for a record it would accept as sent; null: ask the schema. */
  fast: (input: unknown) => z.infer<z.ZodObject<S>> | null;
}

function record<const F extends Record<string, Field<z.ZodType>>>(
  fields: F,
): RecordSpec<{ [K in keyof F]: F[K]['zod'] }> {
  const shape: Record<string, z.ZodType> = {};
  const checks: Record<string, FieldCheck> = {};
  const requiredKeys: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    shape[key] = field.zod;
    checks[key] = field.fast;
    if (field.required) requiredKeys.push(key);
  }
  return {
    schema: z.object(shape) as z.ZodObject<{ [K in keyof F]: F[K]['zod'] }>,
    fast: fastObject(checks, requiredKeys) as RecordSpec<{ [K in keyof F]: F[K]['zod'] }>['fast'],
  };
}

/** An object's fields checked one by one; null when zod must decide. `required` fields must be there. */
function fastObject(
  fields: Record<string, FieldCheck>,
  required: readonly string[],
): (input: unknown) => Record<string, unknown> | null {
  const keys = Object.keys(fields);
  return (input) => {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return null;
    const record = input as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const value = record[key];
      if (value === undefined) {
        // Absent: fine unless required. Present but undefined (not from JSON): zod's call.
        if (required.includes(key) || key in record) return null;
        continue;
      }
      const checked = fields[key]!(value);
      if (checked === ASK_ZOD) return null;
      out[key] = checked;
    }
    return out;
  };
}

/** A list of `entry` records, or null. */
function list<S extends z.ZodRawShape>(entry: RecordSpec<S>) {
  const fast: FieldCheck = (v) => {
    if (v === null) return null;
    if (!Array.isArray(v)) return ASK_ZOD;
    const out: unknown[] = [];
    for (const item of v) {
      const checked = entry.fast(item);
      if (checked === null) return ASK_ZOD;
      out.push(checked);
    }
    return out;
  };
  return optional(z.array(entry.schema).nullable(), fast);
}

// ---- The records ----

const fieldValue = record({
  id: ID,
  field_id: ID,
  label: TEXT,
  // z.unknown(), yet the key is required: zod refuses an entry without it.
  value: required(z.unknown(), (v) => v),
});
export const fieldValueEntry = fieldValue.schema;
export type FieldValueEntry = z.infer<typeof fieldValueEntry>;

const nestedPhoneNumber = record({
  id: ID,
  number: TEXT,
  phone_number: TEXT,
  type: TEXT,
  type_code: INT,
  description: TEXT,
});

const client = record({
  id: ID,
  title: TEXT,
  firstname: TEXT,
  lastname: TEXT,
  organization_name: TEXT,
  email: TEXT,
  customer_type: INT,
  street_address: TEXT,
  zip_code: TEXT,
  city: TEXT,
  country: TEXT,
  home_department: REFERENCE,
  no_sms: FLAG,
  no_email: FLAG,
  archived: FLAG,
  created: CREATED,
  modified: MODIFIED,
  phone_numbers: list(nestedPhoneNumber),
  fields_rel: list(fieldValue),
});
export const clientRecord = client.schema;
/** clientRecord's result for a record it would accept as sent; null: ask clientRecord. */
export const fastClientRecord = client.fast;

const patient = record({
  id: ID,
  client: REFERENCE,
  name: TEXT,
  species: TEXT,
  species_code: INT,
  breed: TEXT,
  breed_code: INT,
  gender: TEXT,
  weight: optional(decimal, fastDecimal),
  date_of_birth: DAY,
  deceased: DAY,
  microchip: TEXT,
  color: TEXT,
  home_department: REFERENCE,
  archived: FLAG,
  created: CREATED,
  modified: MODIFIED,
  fields_rel: list(fieldValue),
});
export const patientRecord = patient.schema;
/** patientRecord's result for a record it would accept as sent; null: ask patientRecord. */
export const fastPatientRecord = patient.fast;

// sync/rows.ts maps these with the zod schema alone.
export const phoneNumberRecord = record({
  id: ID,
  client: required(reference, fastReference),
  phone_number: TEXT,
  type_code: INT,
  description: TEXT,
}).schema;

export const customFieldRecord = record({
  id: ID,
  label: TEXT,
  name: TEXT,
  type: TEXT,
  model: TEXT,
}).schema;

export const codelistRecord = record({
  id: ID,
  name: TEXT,
  label: TEXT,
  species: REFERENCE,
  species_code: INT,
  species_id: INT,
}).schema;

/** One line per problem, naming the field: "modified: must be an ISO 8601 timestamp with an offset". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || 'record'}: ${i.message}`)
    .join('; ');
}
