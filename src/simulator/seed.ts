// Deterministic seeded data. The scalar columns every list request scans are filled into
// typed arrays up front (a few seconds for a million clients); the rest of a record is
// regenerated from (seed, id) whenever it is rendered, so seeded records cost almost no
// memory until something changes them.
import {
  BREEDS_BY_SPECIES,
  CITIES,
  CLIENT_FIELDS,
  COLORS,
  CRITICAL_NOTES,
  DEPARTMENT_IDS,
  FIRST_NAMES,
  GENDERS,
  INSURANCE_COMPANIES,
  LAST_NAMES,
  ORGANIZATION_STEMS,
  ORGANIZATION_SUFFIXES,
  PATIENT_FIELDS,
  PET_NAMES,
  REFERRAL_SOURCES,
  SPECIES,
  SPECIES_WEIGHTS,
  STAFF_USER_IDS,
  STREETS,
  TEMPERAMENTS,
  type CustomFieldDefinition,
} from './catalog.js';
import type { ClientState, CustomValue, PatientState, PhoneState } from './model.js';
import { Random, hashInts, recordRandom } from './random.js';
import { ARCHIVED, ARCHIVED_BY_CASCADE, DELETED, RecordTable } from './tables.js';
import { MICROS_PER_MS, formatDate } from './time.js';

/** Seeded history ends here (fixed, so a seed renders the same bytes on any day) and spans three years. */
const SEED_END_MICROS = Date.UTC(2025, 8, 30, 21, 0, 0) * MICROS_PER_MS;
const SEED_SPAN_MICROS = 3 * 365 * 24 * 3600 * 1_000_000;
const SEED_START_MICROS = SEED_END_MICROS - SEED_SPAN_MICROS;
/** Bulk imports: every record of a batch shares one whole-second created/modified stamp. */
const IMPORT_BATCHES_MICROS = [0.05, 0.2, 0.41, 0.66, 0.9].map(
  (share) => Math.floor((SEED_START_MICROS + share * SEED_SPAN_MICROS) / 1_000_000) * 1_000_000,
);

const KIND_CLIENT = 1;
const KIND_PATIENT = 2;
const KIND_PHONE = 3;
const KIND_VALUE = 4;
const KIND_IMPORTED = 5;

// Cumulative weights: about 1.5 patients and 1.3 phone numbers per client.
const PATIENTS_PER_CLIENT = [20, 55, 80, 92, 100];
const PHONES_PER_CLIENT = [10, 65, 95, 100];

export interface SeedData {
  seed: number;
  clients: RecordTable;
  patients: RecordTable;
  phones: RecordTable;
  /** Seeded patients of seeded client c have ids patientStart[c] .. patientStart[c+1]-1. */
  patientStart: Int32Array;
  phoneStart: Int32Array;
  /** Bit i set: the record has a seeded value for the i-th custom field of its model. */
  clientValueMask: Uint8Array;
  patientValueMask: Uint8Array;
  /** Id of the first seeded value of each record; later ones follow in field order. */
  clientValueStart: Int32Array;
  patientValueStart: Int32Array;
  /** The next free custom value id. */
  nextValueId: number;
}

function isImportedClient(seed: number, id: number): boolean {
  return hashInts(seed, KIND_IMPORTED, id) % 100 < 3;
}

function popcount(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}

function between(r: Random, from: number, to: number): number {
  return Math.floor(from + r.next() * Math.max(0, to - from));
}

/** Fills the typed arrays for `clientCount` clients and their patients and phone numbers. */
export function seedData(seed: number, clientCount: number): SeedData {
  const r = new Random(hashInts(seed, 0x5eed));
  // Headroom for records created during a run without an early reallocation.
  const clients = new RecordTable(clientCount + 64);
  const patients = new RecordTable(Math.ceil(clientCount * 1.6) + 64);
  const phones = new RecordTable(Math.ceil(clientCount * 1.4) + 64);
  const patientStart = new Int32Array(clientCount + 2);
  const phoneStart = new Int32Array(clientCount + 2);
  const clientValueMask = new Uint8Array(clientCount + 1);
  const clientValueStart = new Int32Array(clientCount + 1);
  const clientMaskLimit = (1 << CLIENT_FIELDS.length) - 1;
  let nextValueId = 1;

  for (let c = 1; c <= clientCount; c++) {
    clients.allocate();
    let created: number;
    let modified: number;
    if (isImportedClient(seed, c)) {
      created = IMPORT_BATCHES_MICROS[r.int(0, IMPORT_BATCHES_MICROS.length - 1)]!;
      modified = created;
    } else {
      created = between(r, SEED_START_MICROS, SEED_END_MICROS);
      // Django stamps created and modified separately on insert: a few microseconds apart.
      modified = r.chance(0.4) ? created + r.int(5, 90) : between(r, created, SEED_END_MICROS);
    }
    clients.created[c] = created;
    clients.modified[c] = modified;
    const deleted = r.chance(0.005);
    const archived = r.chance(0.05);
    clients.flags[c] = (deleted ? DELETED : 0) | (archived ? ARCHIVED : 0);

    patientStart[c] = patients.maxId + 1;
    const patientCount = r.weighted(PATIENTS_PER_CLIENT);
    for (let i = 0; i < patientCount; i++) {
      const p = patients.allocate();
      patients.owner[p] = c;
      const pCreated = created === modified ? created : between(r, created, SEED_END_MICROS);
      patients.created[p] = pCreated;
      patients.modified[p] =
        created === modified
          ? pCreated
          : r.chance(0.5)
            ? pCreated + r.int(5, 90)
            : between(r, pCreated, SEED_END_MICROS);
      let flags = deleted ? DELETED : 0;
      if (archived) flags |= ARCHIVED | ARCHIVED_BY_CASCADE;
      else if (r.chance(0.03)) flags |= ARCHIVED;
      patients.flags[p] = flags;
    }

    phoneStart[c] = phones.maxId + 1;
    const phoneCount = r.weighted(PHONES_PER_CLIENT);
    for (let i = 0; i < phoneCount; i++) {
      const n = phones.allocate();
      phones.owner[n] = c;
      phones.flags[n] = deleted ? DELETED : 0;
    }

    const mask = r.chance(0.3) ? r.int(1, clientMaskLimit) : 0;
    clientValueMask[c] = mask;
    clientValueStart[c] = nextValueId;
    nextValueId += popcount(mask);
  }
  patientStart[clientCount + 1] = patients.maxId + 1;
  phoneStart[clientCount + 1] = phones.maxId + 1;

  const patientValueMask = new Uint8Array(patients.maxId + 1);
  const patientValueStart = new Int32Array(patients.maxId + 1);
  const patientMaskLimit = (1 << PATIENT_FIELDS.length) - 1;
  for (let p = 1; p <= patients.maxId; p++) {
    const mask = r.chance(0.3) ? r.int(1, patientMaskLimit) : 0;
    patientValueMask[p] = mask;
    patientValueStart[p] = nextValueId;
    nextValueId += popcount(mask);
  }

  return {
    seed,
    clients,
    patients,
    phones,
    patientStart,
    phoneStart,
    clientValueMask,
    patientValueMask,
    clientValueStart,
    patientValueStart,
    nextValueId,
  };
}

/** Half of empty optional strings are "" and half null, as on real records. */
function empty(r: Random): '' | null {
  return r.chance(0.5) ? '' : null;
}

function maybe(r: Random, probability: number, make: () => string): string | null {
  return r.chance(probability) ? make() : empty(r);
}

function digits(r: Random, count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += String(r.int(0, 9));
  return text;
}

function asciiSlug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}
const FIRST_SLUGS = FIRST_NAMES.map(asciiSlug);
const LAST_SLUGS = LAST_NAMES.map(asciiSlug);

function zipCode(r: Random, pattern: string): string {
  switch (pattern) {
    case 'gb':
      return `${r.pick(['SW1A', 'LS1', 'EC2V', 'N1'])} ${r.int(1, 9)}${r.pick(['AA', 'BD', 'QT'])}`;
    case 'se':
      return `${digits(r, 3)} ${digits(r, 2)}`;
    case 'no':
      return digits(r, 4);
    default:
      return `00${digits(r, 3)}`;
  }
}

function seededValues(
  seed: number,
  fields: readonly CustomFieldDefinition[],
  mask: number,
  firstId: number,
): CustomValue[] {
  const values: CustomValue[] = [];
  let id = firstId;
  fields.forEach((field, slot) => {
    if ((mask & (1 << slot)) === 0) return;
    values.push({ id, fieldId: field.id, value: seededValue(recordRandom(seed, KIND_VALUE, id), field) });
    id++;
  });
  return values;
}

function seededValue(r: Random, field: CustomFieldDefinition): CustomValue['value'] {
  switch (field.type) {
    case 'text':
      return r.pick(field.model === 'client' ? REFERRAL_SOURCES : TEMPERAMENTS);
    case 'number':
      return String(field.model === 'client' ? r.int(0, 5000) : r.int(1, 40));
    case 'date':
      return formatDate(between(r, SEED_START_MICROS, SEED_END_MICROS) / MICROS_PER_MS);
    case 'boolean':
      return r.chance(0.5) ? 'True' : 'False';
    case 'select':
      return [r.pick(field.options)];
    case 'multiselect': {
      const first = r.int(0, field.options.length - 1);
      const picked = [field.options[first]!];
      if (r.chance(0.4)) picked.push(field.options[(first + 1) % field.options.length]!);
      return picked;
    }
  }
}

export function seededClient(data: SeedData, id: number): ClientState {
  const r = recordRandom(data.seed, KIND_CLIENT, id);
  const company = r.chance(0.12);
  const first = r.int(0, FIRST_NAMES.length - 1);
  const last = r.int(0, LAST_NAMES.length - 1);
  const place = r.pick(CITIES);
  const imported = isImportedClient(data.seed, id);
  const seededCount = data.patientStart.length - 2;
  return {
    title: company ? empty(r) : maybe(r, 0.3, () => r.pick(['Mr', 'Mrs', 'Ms', 'Dr'])),
    firstname: company ? empty(r) : FIRST_NAMES[first]!,
    lastname: company ? empty(r) : LAST_NAMES[last]!,
    organization_name: company ? `${r.pick(ORGANIZATION_STEMS)} ${r.pick(ORGANIZATION_SUFFIXES)}`.trim() : empty(r),
    customer_type: company ? r.int(1, 4) : 0,
    vat_number: company ? `${place.country}${digits(r, 8)}` : empty(r),
    register_number: company ? maybe(r, 0.7, () => `${digits(r, 7)}-${digits(r, 1)}`) : empty(r),
    id_number: maybe(r, 0.1, () => `${digits(r, 6)}-${digits(r, 4)}`),
    home_department: r.chance(0.9) ? r.pick(DEPARTMENT_IDS) : null,
    street_address: maybe(r, 0.9, () => `${r.pick(STREETS)} ${r.int(1, 120)}`),
    street_address_2: maybe(r, 0.08, () => `Apt ${r.int(1, 40)}`),
    street_address_3: empty(r),
    zip_code: maybe(r, 0.9, () => zipCode(r, place.zipPattern)),
    city: maybe(r, 0.92, () => place.city),
    state: empty(r),
    country: r.chance(0.95) ? place.country : empty(r),
    email: maybe(r, 0.85, () =>
      company ? `info${id}@example.com` : `${FIRST_SLUGS[first]}.${LAST_SLUGS[last]}${id}@example.org`,
    ),
    alt_emails: maybe(r, 0.05, () => `alt${id}@example.net`),
    critical_notes: maybe(r, 0.03, () => r.pick(CRITICAL_NOTES)),
    remarks: maybe(r, 0.1, () => `Prefers appointments after ${r.int(12, 17)}:00`),
    no_sms: r.chance(0.1),
    no_email: r.chance(0.05),
    external: r.chance(0.02),
    imported,
    invoicing_client: r.chance(0.02) ? r.int(1, Math.max(1, seededCount)) : null,
    tags: r.chance(0.05) ? [r.int(1, 5)] : [],
    status_type: r.chance(0.2) ? r.int(1, 3) : null,
    created_user: imported ? null : r.pick(STAFF_USER_IDS),
    modified_user: imported ? null : r.pick(STAFF_USER_IDS),
    values: seededValues(data.seed, CLIENT_FIELDS, data.clientValueMask[id] ?? 0, data.clientValueStart[id] ?? 0),
  };
}

export function seededPatient(data: SeedData, id: number): PatientState {
  const r = recordRandom(data.seed, KIND_PATIENT, id);
  const species = SPECIES[r.weighted(SPECIES_WEIGHTS)]!;
  const breeds = BREEDS_BY_SPECIES.get(species.id) ?? [];
  const breed = breeds.length > 0 && r.chance(0.8) ? r.pick(breeds) : null;
  const name = r.pick(PET_NAMES);
  const createdMs = Math.floor(data.patients.created[id]! / MICROS_PER_MS);
  const equine = species.name.startsWith('Horse');
  const deceased = r.chance(0.08);
  const deceasedMs = between(r, createdMs, SEED_END_MICROS / MICROS_PER_MS);
  const insured = r.chance(0.25);
  return {
    name,
    official_name: maybe(r, 0.1, () => `${name} of ${r.pick(ORGANIZATION_STEMS)}`),
    species_code: species.id,
    breed_code: breed ? breed.id : null,
    gender: r.chance(0.95) ? r.pick(equine ? GENDERS : GENDERS.slice(0, 5)) : null,
    weight: r.chance(0.6) ? (equine ? r.int(20000, 70000) / 100 : r.int(30, 5000) / 100).toFixed(2) : null,
    date_of_birth: r.chance(0.8) ? formatDate(createdMs - r.int(30, 15 * 365) * 86_400_000) : null,
    deceased: deceased ? formatDate(deceasedMs) : null,
    microchip: r.chance(0.6) ? `9${digits(r, 14)}` : null,
    home_department: r.chance(0.9) ? r.pick(DEPARTMENT_IDS) : null,
    tags: [],
    date_of_registration: r.chance(0.9) ? formatDate(createdMs) : null,
    remarks: maybe(r, 0.1, () => 'Check teeth at next visit'),
    insurance: insured,
    insurance_company: insured ? r.pick(INSURANCE_COMPANIES) : empty(r),
    old_patient_id: maybe(r, 0.1, () => `OLD-${id}`),
    reason_of_death: deceased ? maybe(r, 0.5, () => r.pick(['Old age', 'Euthanasia', 'Accident'])) : empty(r),
    color: maybe(r, 0.7, () => r.pick(COLORS)),
    passport_number: maybe(r, 0.05, () => `FI-${digits(r, 9)}`),
    critical_notes: maybe(r, 0.03, () => r.pick(CRITICAL_NOTES)),
    values: seededValues(data.seed, PATIENT_FIELDS, data.patientValueMask[id] ?? 0, data.patientValueStart[id] ?? 0),
  };
}

export function seededPhone(data: SeedData, id: number): PhoneState {
  const r = recordRandom(data.seed, KIND_PHONE, id);
  const mobile = r.chance(0.7);
  // Real numbers come in every spelling: international, spaced, local with a dash.
  const style = r.int(0, 2);
  const phone_number =
    style === 0
      ? `+358${mobile ? '40' : '9'}${digits(r, 7)}`
      : style === 1
        ? `+44 7${digits(r, 3)} ${digits(r, 6)}`
        : `0${mobile ? '50' : '9'}-${digits(r, 7)}`;
  return {
    phone_number,
    type_code: mobile ? 1 : 0,
    description: maybe(r, 0.15, () => r.pick(['Work', 'Home', "Partner's phone"])),
    is_secondary_owners_phone_number: r.chance(0.1),
  };
}
