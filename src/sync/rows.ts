// Pure mapping from API records to mirror rows: no I/O, unit-tested on its own.
// Each mapper validates one record and either returns its row or a reject with the reason.
import type { z } from 'zod';
import type { FieldValueUpsertRow, PhoneNumberUpsertRow } from '../db/mirror/owned-rows.js';
import type { ClientUpsertRow, PatientUpsertRow, RawJson } from '../db/mirror/record-upsert.js';
import {
  MAX_RECORD_BYTES,
  clientRecord,
  codelistRecord,
  customFieldRecord,
  describeIssues,
  fastClientRecord,
  fastPatientRecord,
  fieldValueEntry,
  patientRecord,
  phoneNumberRecord,
  type FieldValueEntry,
} from '../provet/records.js';
import type { SentRecord } from '../provet/raw-records.js';
import { rawText, storableBytes, storableJson } from './storable-json.js';

export type ObjectType = 'client' | 'patient';
export type { RawJson };

export interface Reject {
  recordId: string | null;
  reason: string;
  /** The record as received, as JSON text (text, not jsonb: it may hold what jsonb refuses). */
  payload: string;
}

export type Mapped<Row> = { ok: true; row: Row } | { ok: false; reject: Reject };

/** Rows as the database layer writes them (db/mirror/), plus what a record carries along. */
export type FieldValueRow = FieldValueUpsertRow;
export type PhoneNumberRow = PhoneNumberUpsertRow;

export type ClientRow = ClientUpsertRow & {
  /** null: the record carried no nested phone numbers (they must come from elsewhere). */
  phoneNumbers: PhoneNumberRow[] | null;
  /** null: the record carried no fields_rel (values must come from the nested endpoint). */
  fieldValues: FieldValueRow[] | null;
};

export type PatientRow = PatientUpsertRow & {
  fieldValues: FieldValueRow[] | null;
};

export interface CustomFieldRow {
  id: number;
  label: string | null;
  type: string | null;
  model: string | null;
  rawJson: string;
}

export interface CodelistRow {
  id: number;
  name: string | null;
  species_id: number | null;
  rawJson: string;
}

function payloadOf(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = String(raw);
  }
  return text.length > MAX_RECORD_BYTES ? `${text.slice(0, MAX_RECORD_BYTES)}…[truncated]` : text;
}

function idOf(raw: unknown): string | null {
  if (raw !== null && typeof raw === 'object' && 'id' in raw) {
    const id = raw.id;
    if (typeof id === 'number' || typeof id === 'string') return String(id).slice(0, 100);
  }
  return null;
}

function reject(raw: unknown, reason: string): { ok: false; reject: Reject } {
  return { ok: false, reject: { recordId: idOf(raw), reason, payload: payloadOf(raw) } };
}

/**
 * Validates size and shape. Returns the record's storable JSON text (what the mirror keeps as
 * raw), the storable object it was made from, and the parsed view of it.
 */
function parse<S extends z.ZodType>(
  schema: S,
  kind: string,
  input: unknown,
  fast?: (value: unknown) => z.infer<S> | null,
  sent?: SentRecord,
): { rawJson: RawJson; raw: Record<string, unknown>; parsed: z.infer<S> } | { error: string } {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return { error: `${kind} is not a JSON object` };
  const bytes = sent === undefined ? null : storableBytes(sent);
  const { json, value }: { json: RawJson; value: object } = bytes ? { json: bytes, value: input } : storableJson(input);
  if (json.length > MAX_RECORD_BYTES)
    return { error: `${kind} is ${json.length} bytes, over the ${MAX_RECORD_BYTES}-byte limit` };
  const quick = fast?.(value);
  if (quick) return { rawJson: json, raw: value as Record<string, unknown>, parsed: quick };
  const result = schema.safeParse(value);
  if (!result.success) return { error: `invalid ${kind}: ${describeIssues(result.error)}` };
  return { rawJson: json, raw: value as Record<string, unknown>, parsed: result.data };
}

const PHONE_TYPE_CODES: Record<string, number> = { landline: 0, mobile: 1 };

/** Custom values of one record from the fields_rel or nested endpoint entries; an invalid entry throws. */
export function mapFieldValues(objectType: ObjectType, objectId: number, entries: readonly unknown[]): FieldValueRow[] {
  const storable = entries.map((entry) =>
    entry !== null && typeof entry === 'object' ? storableJson(entry).value : entry,
  );
  return fieldValueRows(
    objectType,
    objectId,
    storable.map((entry) => fieldValueEntry.parse(entry)),
    storable,
  );
}

/** Rows from entries already validated (`parsed`) and the storable entries they were parsed from. */
function fieldValueRows(
  objectType: ObjectType,
  objectId: number,
  parsed: readonly FieldValueEntry[],
  raw: readonly unknown[],
): FieldValueRow[] {
  return parsed.map((e, i) => ({
    objectType,
    id: e.id,
    fieldId: e.field_id,
    objectId,
    label: e.label ?? null,
    valueJson: e.value === undefined || e.value === null ? null : JSON.stringify(e.value),
    rawJson: JSON.stringify(raw[i]),
  }));
}

/** `sent`: the record as the page sent it; its bytes are kept as its raw JSON when PostgreSQL can store them. */
export function mapClient(input: unknown, sent?: SentRecord): Mapped<ClientRow> {
  const result = parse(clientRecord, 'client', input, fastClientRecord, sent);
  if ('error' in result) return reject(input, result.error);
  const c = result.parsed;
  const raw = result.raw as { phone_numbers?: unknown[] | null; fields_rel?: unknown[] | null };
  return {
    ok: true,
    row: {
      id: c.id,
      title: c.title ?? null,
      firstname: c.firstname ?? null,
      lastname: c.lastname ?? null,
      organizationName: c.organization_name ?? null,
      email: c.email ?? null,
      customerType: c.customer_type ?? null,
      streetAddress: c.street_address ?? null,
      zipCode: c.zip_code ?? null,
      city: c.city ?? null,
      country: c.country ?? null,
      homeDepartmentId: c.home_department ?? null,
      noSms: c.no_sms ?? null,
      noEmail: c.no_email ?? null,
      archived: c.archived ?? false,
      created: c.created ?? null,
      modified: c.modified,
      rawJson: result.rawJson,
      phoneNumbers: Array.isArray(c.phone_numbers)
        ? c.phone_numbers.map((p, i) => ({
            id: p.id,
            clientId: c.id,
            phoneNumber: p.number ?? p.phone_number ?? null,
            typeCode: p.type_code ?? (p.type ? (PHONE_TYPE_CODES[p.type.toLowerCase()] ?? null) : null),
            description: p.description ?? null,
            rawJson: JSON.stringify(raw.phone_numbers?.[i] ?? null),
          }))
        : null,
      fieldValues: Array.isArray(c.fields_rel)
        ? fieldValueRows('client', c.id, c.fields_rel, raw.fields_rel ?? [])
        : null,
    },
  };
}

export function mapPatient(input: unknown, sent?: SentRecord): Mapped<PatientRow> {
  const result = parse(patientRecord, 'patient', input, fastPatientRecord, sent);
  if ('error' in result) return reject(input, result.error);
  const p = result.parsed;
  const raw = result.raw as { fields_rel?: unknown[] | null };
  return {
    ok: true,
    row: {
      id: p.id,
      clientId: p.client ?? null,
      name: p.name ?? null,
      species: p.species ?? null,
      speciesCode: p.species_code ?? null,
      breed: p.breed ?? null,
      breedCode: p.breed_code ?? null,
      gender: p.gender ?? null,
      weight: p.weight ?? null,
      dateOfBirth: p.date_of_birth ?? null,
      deceased: p.deceased ?? null,
      microchip: p.microchip ?? null,
      color: p.color ?? null,
      homeDepartmentId: p.home_department ?? null,
      archived: p.archived ?? false,
      created: p.created ?? null,
      modified: p.modified,
      rawJson: result.rawJson,
      fieldValues: Array.isArray(p.fields_rel)
        ? fieldValueRows('patient', p.id, p.fields_rel, raw.fields_rel ?? [])
        : null,
    },
  };
}

export function mapPhoneNumber(input: unknown): Mapped<PhoneNumberRow> {
  const result = parse(phoneNumberRecord, 'phone number', input);
  if ('error' in result) return reject(input, result.error);
  const p = result.parsed;
  if (p.client === null) return reject(input, 'invalid phone number: client is missing');
  return {
    ok: true,
    row: {
      id: p.id,
      clientId: p.client,
      phoneNumber: p.phone_number ?? null,
      typeCode: p.type_code ?? null,
      description: p.description ?? null,
      rawJson: rawText(result.rawJson),
    },
  };
}

export function mapCustomField(input: unknown): Mapped<CustomFieldRow> {
  const result = parse(customFieldRecord, 'custom field', input);
  if ('error' in result) return reject(input, result.error);
  const f = result.parsed;
  return {
    ok: true,
    row: {
      id: f.id,
      label: f.label ?? f.name ?? null,
      type: f.type ?? null,
      model: f.model ?? null,
      rawJson: rawText(result.rawJson),
    },
  };
}

export function mapCodelistEntry(input: unknown): Mapped<CodelistRow> {
  const result = parse(codelistRecord, 'codelist entry', input);
  if ('error' in result) return reject(input, result.error);
  const c = result.parsed;
  return {
    ok: true,
    row: {
      id: c.id,
      name: c.name ?? c.label ?? null,
      species_id: c.species ?? c.species_id ?? c.species_code ?? null,
      rawJson: rawText(result.rawJson),
    },
  };
}
