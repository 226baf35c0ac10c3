// Turns a write's JSON body into checked changes, answering the way DRF serializers do:
// unknown and read-only fields are ignored, wrong types give a 400 with per-field lists.
import { BREEDS, CUSTOM_FIELDS_BY_ID, GENDERS, SPECIES, type SelectOption } from './catalog.js';
import { ValidationError, type FieldErrors } from './errors.js';
import type { ClientState, PatientState, PhoneState, RecordKind } from './model.js';
import { parseDate } from './time.js';

export interface ValueInput {
  fieldId: number;
  value: string | SelectOption[];
}

export interface ClientInput {
  changes: Partial<ClientState>;
  archived?: boolean;
  /** Present when the body carried fields_rel: the record's complete new set of values. */
  values?: ValueInput[];
}

export interface PatientInput {
  changes: Partial<PatientState>;
  client?: number;
  archived?: boolean;
  values?: ValueInput[];
}

export interface PhoneInput {
  changes: Partial<PhoneState>;
  client?: number;
}

/** Looks up whether a referenced record exists; supplied by the store. */
export type Exists = (kind: 'client' | 'patient', id: number) => boolean;

const CLIENT_STRINGS = [
  'title',
  'firstname',
  'lastname',
  'organization_name',
  'vat_number',
  'register_number',
  'id_number',
  'street_address',
  'street_address_2',
  'street_address_3',
  'zip_code',
  'city',
  'state',
  'alt_emails',
  'critical_notes',
  'remarks',
] as const;
const CLIENT_BOOLEANS = ['no_sms', 'no_email', 'external'] as const;
const PATIENT_STRINGS = [
  'official_name',
  'microchip',
  'remarks',
  'insurance_company',
  'old_patient_id',
  'reason_of_death',
  'color',
  'passport_number',
  'critical_notes',
] as const;
const PATIENT_DATES = ['date_of_birth', 'deceased', 'date_of_registration'] as const;
const LONG_TEXT = new Set(['critical_notes', 'remarks']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Checker {
  readonly errors: FieldErrors = {};
  constructor(readonly body: Record<string, unknown>) {}

  has(key: string): boolean {
    return Object.hasOwn(this.body, key);
  }

  fail(key: string, message: string): undefined {
    this.errors[key] = [message];
    return undefined;
  }

  string(key: string): string | null | undefined {
    const value = this.body[key];
    if (value === null) return null;
    if (typeof value !== 'string') return this.fail(key, 'Not a valid string.');
    if (!LONG_TEXT.has(key) && value.length > 255)
      return this.fail(key, 'Ensure this field has no more than 255 characters.');
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.body[key];
    if (value === true || value === 'true' || value === 'True' || value === 1) return true;
    if (value === false || value === 'false' || value === 'False' || value === 0) return false;
    return this.fail(key, 'Must be a valid boolean.');
  }

  date(key: string): string | null | undefined {
    const value = this.body[key];
    if (value === null || value === '') return null;
    if (typeof value === 'string' && parseDate(value) !== null) return value;
    return this.fail(key, 'Date has wrong format. Use one of these formats instead: YYYY-MM-DD.');
  }

  /** A foreign key given as an absolute URL (`.../client/218/`) or a bare id. */
  reference(key: string, kind: string, exists: ((id: number) => boolean) | null): number | null | undefined {
    const value = this.body[key];
    if (value === null) return null;
    let id: number | null = null;
    if (typeof value === 'number' && Number.isInteger(value)) id = value;
    else if (typeof value === 'string') {
      const match = new RegExp(`/${kind}/(\\d+)/$`).exec(value) ?? /^(\d+)$/.exec(value);
      if (match) id = Number(match[1]);
    }
    if (id === null) return this.fail(key, 'Invalid hyperlink - No URL match.');
    if (exists && !exists(id)) return this.fail(key, 'Invalid hyperlink - Object does not exist.');
    return id;
  }
}

export function parseClientInput(body: unknown, exists: Exists, creating: boolean): ClientInput {
  if (!isObject(body)) throw new ValidationError({ non_field_errors: ['Invalid data. Expected a dictionary.'] });
  const check = new Checker(body);
  const changes: Partial<ClientState> = {};
  for (const key of CLIENT_STRINGS) if (check.has(key)) changes[key] = check.string(key);
  for (const key of CLIENT_BOOLEANS) if (check.has(key)) changes[key] = check.boolean(key);
  if (check.has('email')) {
    const email = check.string('email');
    if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) check.fail('email', 'Enter a valid email address.');
    else changes.email = email;
  }
  if (check.has('country')) {
    const country = check.string('country');
    if (country && !/^[A-Z]{2}$/.test(country)) check.fail('country', `"${country}" is not a valid choice.`);
    else changes.country = country;
  }
  if (check.has('customer_type')) {
    const type = body.customer_type;
    if (typeof type === 'number' && Number.isInteger(type) && type >= 0 && type <= 4) changes.customer_type = type;
    else check.fail('customer_type', `"${String(type)}" is not a valid choice.`);
  }
  if (check.has('status_type')) {
    const status = body.status_type;
    if (status === null || (typeof status === 'number' && Number.isInteger(status))) changes.status_type = status;
    else check.fail('status_type', 'A valid integer is required.');
  }
  if (check.has('home_department')) changes.home_department = check.reference('home_department', 'department', null);
  if (check.has('invoicing_client')) {
    changes.invoicing_client = check.reference('invoicing_client', 'client', (id) => exists('client', id));
  }
  const input: ClientInput = { changes };
  if (check.has('archived')) input.archived = check.boolean('archived');
  if (check.has('fields_rel')) input.values = parseValues(check, 'client');
  if (creating && !changes.firstname && !changes.lastname && !changes.organization_name) {
    check.fail('non_field_errors', 'A client needs a first name, a last name or an organization name.');
  }
  if (Object.keys(check.errors).length > 0) throw new ValidationError(check.errors);
  return input;
}

export function parsePatientInput(
  body: unknown,
  exists: Exists,
  creating: boolean,
  currentSpecies?: number,
): PatientInput {
  if (!isObject(body)) throw new ValidationError({ non_field_errors: ['Invalid data. Expected a dictionary.'] });
  const check = new Checker(body);
  const changes: Partial<PatientState> = {};
  const input: PatientInput = { changes };
  for (const key of PATIENT_STRINGS) if (check.has(key)) changes[key] = check.string(key);
  for (const key of PATIENT_DATES) if (check.has(key)) changes[key] = check.date(key);
  if (check.has('client')) {
    const client = check.reference('client', 'client', (id) => exists('client', id));
    if (client === null) check.fail('client', 'This field may not be null.');
    else input.client = client;
  } else if (creating) check.fail('client', 'This field is required.');
  if (check.has('name')) {
    const name = check.string('name');
    if (!name) check.fail('name', 'This field may not be blank.');
    else changes.name = name;
  } else if (creating) check.fail('name', 'This field is required.');
  if (check.has('species')) {
    const code = body.species;
    if (SPECIES.some((s) => s.id === code)) changes.species_code = code as number;
    else check.fail('species', `Invalid pk ${JSON.stringify(code)} - object does not exist.`);
  } else if (creating) check.fail('species', 'This field is required.');
  if (check.has('breed')) {
    const code = body.breed;
    const breed = BREEDS.find((b) => b.id === code);
    const species = changes.species_code ?? currentSpecies;
    if (code === null) changes.breed_code = null;
    else if (!breed) check.fail('breed', `Invalid pk ${JSON.stringify(code)} - object does not exist.`);
    else if (species !== undefined && breed.species !== species)
      check.fail('breed', 'Breed does not belong to the species.');
    else changes.breed_code = breed.id;
  }
  if (check.has('gender')) {
    const gender = body.gender;
    if (gender === null || gender === '') changes.gender = null;
    else if (typeof gender === 'string' && GENDERS.includes(gender)) changes.gender = gender;
    else check.fail('gender', `${JSON.stringify(gender)} is not a valid choice.`);
  }
  if (check.has('weight')) {
    const weight = body.weight;
    const text = typeof weight === 'number' ? String(weight) : weight;
    if (weight === null || weight === '') changes.weight = null;
    else if (typeof text === 'string' && /^\d{1,6}(\.\d{1,3})?$/.test(text)) changes.weight = Number(text).toFixed(2);
    else check.fail('weight', 'A valid number is required.');
  }
  if (check.has('insurance')) changes.insurance = check.boolean('insurance');
  if (check.has('home_department')) changes.home_department = check.reference('home_department', 'department', null);
  if (check.has('archived')) input.archived = check.boolean('archived');
  if (check.has('fields_rel')) input.values = parseValues(check, 'patient');
  if (Object.keys(check.errors).length > 0) throw new ValidationError(check.errors);
  return input;
}

export function parsePhoneInput(body: unknown, exists: Exists, creating: boolean): PhoneInput {
  if (!isObject(body)) throw new ValidationError({ non_field_errors: ['Invalid data. Expected a dictionary.'] });
  const check = new Checker(body);
  const changes: Partial<PhoneState> = {};
  const input: PhoneInput = { changes };
  if (check.has('client')) {
    const client = check.reference('client', 'client', (id) => exists('client', id));
    if (client === null) check.fail('client', 'This field may not be null.');
    else input.client = client;
  } else if (creating) check.fail('client', 'This field is required.');
  if (check.has('phone_number')) {
    const number = check.string('phone_number');
    if (!number) check.fail('phone_number', 'This field may not be blank.');
    else changes.phone_number = number;
  } else if (creating) check.fail('phone_number', 'This field is required.');
  if (check.has('type_code')) {
    const type = body.type_code;
    if (type === 0 || type === 1) changes.type_code = type;
    else check.fail('type_code', `"${String(type)}" is not a valid choice.`);
  }
  if (check.has('description')) changes.description = check.string('description');
  if (check.has('is_secondary_owners_phone_number')) {
    changes.is_secondary_owners_phone_number = check.boolean('is_secondary_owners_phone_number');
  }
  if (Object.keys(check.errors).length > 0) throw new ValidationError(check.errors);
  return input;
}

/** One `{field_id, value}` as the nested custom_field_values POST takes it. */
export function parseValueInput(body: unknown, kind: RecordKind): ValueInput {
  const result = checkValue(body, kind);
  if (typeof result === 'string') throw new ValidationError({ value: [result] });
  if ('field_id' in result) throw new ValidationError(result);
  return result;
}

function parseValues(check: Checker, kind: RecordKind): ValueInput[] | undefined {
  const list = check.body.fields_rel;
  if (!Array.isArray(list)) return check.fail('fields_rel', 'Expected a list of items.');
  const values: ValueInput[] = [];
  const errors: unknown[] = [];
  let failed = false;
  for (const item of list) {
    const result = checkValue(item, kind);
    if (typeof result === 'string') {
      errors.push({ value: [result] });
      failed = true;
    } else if ('field_id' in result) {
      errors.push(result);
      failed = true;
    } else {
      errors.push({});
      values.push(result);
    }
  }
  if (new Set(values.map((v) => v.fieldId)).size !== values.length) {
    return check.fail('fields_rel', 'A custom field may appear only once.');
  }
  if (failed) {
    check.errors.fields_rel = errors;
    return undefined;
  }
  return values;
}

/** A checked value, a field_id error object, or a value error message. */
function checkValue(item: unknown, kind: RecordKind): ValueInput | { field_id: string[] } | string {
  if (!isObject(item)) return 'Invalid data. Expected a dictionary.';
  const field = typeof item.field_id === 'number' ? CUSTOM_FIELDS_BY_ID.get(item.field_id) : undefined;
  if (!field || field.model !== kind)
    return { field_id: [`Invalid pk "${String(item.field_id)}" - object does not exist.`] };
  const value = item.value;
  switch (field.type) {
    case 'text':
      return typeof value === 'string' ? { fieldId: field.id, value } : 'Not a valid string.';
    case 'number': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      return typeof text === 'string' && /^-?\d+(\.\d+)?$/.test(text)
        ? { fieldId: field.id, value: text }
        : 'A valid number is required.';
    }
    case 'date':
      return typeof value === 'string' && parseDate(value) !== null
        ? { fieldId: field.id, value }
        : 'Date has wrong format. Use one of these formats instead: YYYY-MM-DD.';
    case 'boolean':
      if (value === true || value === 'True' || value === 'true') return { fieldId: field.id, value: 'True' };
      if (value === false || value === 'False' || value === 'false') return { fieldId: field.id, value: 'False' };
      return 'Must be a valid boolean.';
    case 'select':
    case 'multiselect': {
      if (!Array.isArray(value) || value.length === 0) return 'Expected a non-empty list of options.';
      if (field.type === 'select' && value.length > 1) return 'This field takes one option.';
      const options: SelectOption[] = [];
      for (const entry of value) {
        const option = isObject(entry) ? field.options.find((o) => o.id === entry.id) : undefined;
        if (!option) return `Invalid option ${JSON.stringify(entry)}.`;
        options.push(option);
      }
      return { fieldId: field.id, value: options };
    }
  }
}
