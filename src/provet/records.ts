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
  z.number().int().min(-(2 ** 53)).max(2 ** 53).nullable(),
);

export const recordId = z.preprocess(
  (v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v),
  z.number({ error: 'id must be a positive integer' }).int().positive().max(2 ** 53),
);

/** ISO 8601 with an explicit offset and up to microseconds, as Provet sends created/modified. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
export const timestamp = z
  .string({ error: 'must be an ISO 8601 timestamp' })
  .regex(TIMESTAMP, 'must be an ISO 8601 timestamp with an offset')
  .refine((s) => !Number.isNaN(Date.parse(s.replace(' ', 'T'))), 'is not a real date and time');

const optionalTimestamp = z.preprocess((v) => (empty(v) ? null : v), timestamp.nullable());

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** "2024-02-30" rolls over to March and "2024-13-01" is no date at all (toISOString would throw on it). */
function isCalendarDate(s: string): boolean {
  const date = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(s);
}
/** A calendar date PostgreSQL will accept ("2024-02-30" is refused here, not by the database). */
const date = z.preprocess(
  (v) => (empty(v) ? null : v),
  z
    .string()
    .regex(DATE, 'must be a YYYY-MM-DD date')
    .refine(isCalendarDate, 'is not a real calendar date')
    .nullable(),
);

const decimal = z.preprocess(
  (v) => (empty(v) ? null : typeof v === 'number' && Number.isFinite(v) ? String(v) : v),
  z.string().regex(/^-?\d{1,20}(\.\d{1,20})?$/, 'must be a decimal number').nullable(),
);

/** Foreign keys come as absolute URLs (".../client/218/"); the id is the last path segment. */
const reference = z.preprocess((v) => {
  if (empty(v)) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const m = /\/(\d{1,15})\/?$/.exec(v) ?? /^(\d{1,15})$/.exec(v);
    return m ? Number(m[1]) : v;
  }
  return v;
}, z.number({ error: 'must be a record URL or id' }).int().positive().nullable());

export const fieldValueEntry = z.object({
  id: recordId,
  field_id: recordId,
  label: text.optional(),
  value: z.unknown(),
});
export type FieldValueEntry = z.infer<typeof fieldValueEntry>;

export const nestedPhoneNumber = z.object({
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
export type PhoneNumberRecord = z.infer<typeof phoneNumberRecord>;

export const customFieldRecord = z.object({
  id: recordId,
  label: text.optional(),
  name: text.optional(),
  type: text.optional(),
  model: text.optional(),
});
export type CustomFieldRecord = z.infer<typeof customFieldRecord>;

export const codelistRecord = z.object({
  id: recordId,
  name: text.optional(),
  label: text.optional(),
  species: reference.optional(),
  species_code: int.optional(),
  species_id: int.optional(),
});
export type CodelistRecord = z.infer<typeof codelistRecord>;

/** One line per problem, naming the field: "modified: must be an ISO 8601 timestamp with an offset". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || 'record'}: ${i.message}`)
    .join('; ');
}
