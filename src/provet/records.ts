// zod schemas of the records the Provet API sends. Lenient where the real API is known to wobble
// ("" and null for the same empty field, numbers sent as strings, unknown new fields), strict
// where a wrong value would corrupt the mirror (ids, modified timestamps, dates PostgreSQL must
// accept). A record that fails is rejected alone; its page still lands.
// The schemas cover the fields the mirror has columns for. Every other field is kept as it came in
// the record's raw JSON; z.object leaves them out of the parsed view, which is cheaper than
// copying them (the mapping of a page is on the sync's critical path).
import { z } from 'zod';

/** Larger records are refused: no clinic record is this big, and one must not exhaust memory. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const empty = (v: unknown) => v === null || v === undefined || v === '';

/** text column: strings as they are, numbers/booleans as their text, "" and null as null. */
const text = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string().max(100_000).nullable(),
);

const flag = z.preprocess((v) => {
  if (empty(v)) return null;
  if (v === 'true' || v === 'True') return true;
  if (v === 'false' || v === 'False') return false;
  return v;
}, z.boolean().nullable());

const int = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'string' && /^-?\d{1,15}$/.test(v) ? Number(v) : v),
  z
    .number()
    .int()
    .min(-(2 ** 53))
    .max(2 ** 53)
    .nullable(),
);

const recordId = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'id must be a positive integer' })
    .int()
    .positive()
    .max(2 ** 53),
);

/** ISO 8601 with an explicit offset and up to microseconds, as Provet sends created/modified. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
const timestamp = z
  .string({ error: 'must be an ISO 8601 timestamp' })
  .regex(TIMESTAMP, 'must be an ISO 8601 timestamp with an offset')
  .refine((s) => !Number.isNaN(Date.parse(s.replace(' ', 'T'))), 'is not a real date and time');

const optionalTimestamp = z.preprocess((v) => (empty(v) ? null : v), timestamp.nullable());

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

const DECIMAL = /^-?\d{1,20}(\.\d{1,20})?$/;
const decimal = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'number' && Number.isFinite(v) ? String(v) : v),
  z.string().regex(DECIMAL, 'must be a decimal number').nullable(),
);

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

export const fieldValueEntry = z.object({
  id: recordId,
  field_id: recordId,
  label: text.optional(),
  value: z.unknown(),
});
export type FieldValueEntry = z.infer<typeof fieldValueEntry>;

const nestedPhoneNumber = z.object({
  id: recordId,
  number: text.optional(),
  phone_number: text.optional(),
  type: text.optional(),
  type_code: int.optional(),
  description: text.optional(),
});

export const clientRecord = z.object({
  id: recordId,
  title: text.optional(),
  firstname: text.optional(),
  lastname: text.optional(),
  organization_name: text.optional(),
  email: text.optional(),
  customer_type: int.optional(),
  street_address: text.optional(),
  zip_code: text.optional(),
  city: text.optional(),
  country: text.optional(),
  home_department: reference.optional(),
  no_sms: flag.optional(),
  no_email: flag.optional(),
  archived: flag.optional(),
  created: optionalTimestamp.optional(),
  modified: timestamp,
  phone_numbers: z.array(nestedPhoneNumber).nullable().optional(),
  fields_rel: z.array(fieldValueEntry).nullable().optional(),
});
export type ClientRecord = z.infer<typeof clientRecord>;

export const patientRecord = z.object({
  id: recordId,
  client: reference.optional(),
  name: text.optional(),
  species: text.optional(),
  species_code: int.optional(),
  breed: text.optional(),
  breed_code: int.optional(),
  gender: text.optional(),
  weight: decimal.optional(),
  date_of_birth: date.optional(),
  deceased: date.optional(),
  microchip: text.optional(),
  color: text.optional(),
  home_department: reference.optional(),
  archived: flag.optional(),
  created: optionalTimestamp.optional(),
  modified: timestamp,
  fields_rel: z.array(fieldValueEntry).nullable().optional(),
});
export type PatientRecord = z.infer<typeof patientRecord>;

export const phoneNumberRecord = z.object({
  id: recordId,
  client: reference,
  phone_number: text.optional(),
  type_code: int.optional(),
  description: text.optional(),
});

export const customFieldRecord = z.object({
  id: recordId,
  label: text.optional(),
  name: text.optional(),
  type: text.optional(),
  model: text.optional(),
});

export const codelistRecord = z.object({
  id: recordId,
  name: text.optional(),
  label: text.optional(),
  species: reference.optional(),
  species_code: int.optional(),
  species_id: int.optional(),
});

// ---- Fast paths ----
// Validating a page of 1000 clients with the schemas above takes about 7 ms, most of it zod's
// machinery around each field (a preprocess step, a pipe, a nullable wrapper) rather than the
// checks themselves, and it is on the sync's critical path. The fast paths below run the same
// checks on the shapes Provet actually sends: a field holding what its column wants (a string, a
// safe integer, a boolean, a well-formed timestamp, date or URL, null or "") is taken as is;
// anything else (a number sent as a string, a bad value, a missing required field) makes the
// fast path give up, and the record goes through zod, which decides and words the error. So a
// fast path may only accept what the schema accepts, with the same result; it never rejects.
// test/unit/fast-records.test.ts checks exactly that against the schemas, on generated records.

/** Returned by a field check that leaves the value to zod. */
const ASK_ZOD = Symbol('ask zod');
type FieldCheck = (v: unknown) => unknown;

const fastRecordId: FieldCheck = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : ASK_ZOD);
const fastText: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && v.length <= 100_000 ? v : ASK_ZOD;
const fastInt: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'number' && Number.isSafeInteger(v) ? v : ASK_ZOD;
const fastFlag: FieldCheck = (v) => (v === null || v === '' ? null : typeof v === 'boolean' ? v : ASK_ZOD);
const fastTimestamp: FieldCheck = (v) =>
  typeof v === 'string' && TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T'))) ? v : ASK_ZOD;
const fastOptionalTimestamp: FieldCheck = (v) => (v === null || v === '' ? null : fastTimestamp(v));
const fastDate: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && isCalendarDate(v) ? v : ASK_ZOD;
const fastDecimal: FieldCheck = (v) =>
  v === null || v === '' ? null : typeof v === 'string' && DECIMAL.test(v) ? v : ASK_ZOD;
const fastReference: FieldCheck = (v) => {
  if (v === null || v === '') return null;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : ASK_ZOD;
  if (typeof v !== 'string') return ASK_ZOD;
  const m = REFERENCE_URL.exec(v) ?? REFERENCE_ID.exec(v);
  const id = m ? Number(m[1]) : 0;
  return id > 0 ? id : ASK_ZOD;
};
const fastAnything: FieldCheck = (v) => v;

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

/** null stays null, an array has every entry checked by `entry`; anything else is zod's. */
function fastArray(entry: (input: unknown) => Record<string, unknown> | null): FieldCheck {
  return (v) => {
    if (v === null) return null;
    if (!Array.isArray(v)) return ASK_ZOD;
    const out: Record<string, unknown>[] = [];
    for (const item of v) {
      const checked = entry(item);
      if (checked === null) return ASK_ZOD;
      out.push(checked);
    }
    return out;
  };
}

// value is z.unknown(), yet the key is required: zod refuses an entry without it.
const fastFieldValueEntry = fastObject(
  { id: fastRecordId, field_id: fastRecordId, label: fastText, value: fastAnything },
  ['id', 'field_id', 'value'],
);
const fastNestedPhoneNumber = fastObject(
  {
    id: fastRecordId,
    number: fastText,
    phone_number: fastText,
    type: fastText,
    type_code: fastInt,
    description: fastText,
  },
  ['id'],
);

/** clientRecord's result for a record it would accept as sent; null: ask clientRecord. */
export const fastClientRecord = fastObject(
  {
    id: fastRecordId,
    title: fastText,
    firstname: fastText,
    lastname: fastText,
    organization_name: fastText,
    email: fastText,
    customer_type: fastInt,
    street_address: fastText,
    zip_code: fastText,
    city: fastText,
    country: fastText,
    home_department: fastReference,
    no_sms: fastFlag,
    no_email: fastFlag,
    archived: fastFlag,
    created: fastOptionalTimestamp,
    modified: fastTimestamp,
    phone_numbers: fastArray(fastNestedPhoneNumber),
    fields_rel: fastArray(fastFieldValueEntry),
  },
  ['id', 'modified'],
) as (input: unknown) => ClientRecord | null;

/** patientRecord's result for a record it would accept as sent; null: ask patientRecord. */
export const fastPatientRecord = fastObject(
  {
    id: fastRecordId,
    client: fastReference,
    name: fastText,
    species: fastText,
    species_code: fastInt,
    breed: fastText,
    breed_code: fastInt,
    gender: fastText,
    weight: fastDecimal,
    date_of_birth: fastDate,
    deceased: fastDate,
    microchip: fastText,
    color: fastText,
    home_department: fastReference,
    archived: fastFlag,
    created: fastOptionalTimestamp,
    modified: fastTimestamp,
    fields_rel: fastArray(fastFieldValueEntry),
  },
  ['id', 'modified'],
) as (input: unknown) => PatientRecord | null;

/** One line per problem, naming the field: "modified: must be an ISO 8601 timestamp with an offset". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || 'record'}: ${i.message}`)
    .join('; ');
}
