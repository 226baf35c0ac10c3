// Records as the API renders them: absolute-URL foreign keys, species as a display name
// beside species_code, fields_rel embedded, phone_numbers as a nested copy with its own
// field names, timestamps with microseconds in the installation's offset.
import {
  BREEDS,
  CUSTOM_FIELDS_BY_ID,
  SPECIES,
  type Breed,
  type CustomFieldDefinition,
  type Species,
} from './catalog.js';
import type { CustomValue, RecordKind } from './model.js';
import type { Store } from './store.js';
import { formatTimestamp } from './time.js';

type Json = Record<string, unknown>;

const SPECIES_NAMES = new Map(SPECIES.map((s) => [s.id, s.name]));
const BREED_NAMES = new Map(BREEDS.map((b) => [b.id, b.name]));

export class Renderer {
  constructor(
    private readonly store: Store,
    /** e.g. 'http://127.0.0.1:8000/1234/api/0.1/' */
    readonly baseUrl: string,
    readonly offsetMinutes: number,
  ) {}

  url(path: string, id: number): string {
    return `${this.baseUrl}${path}/${id}/`;
  }

  private optionalUrl(path: string, id: number | null): string | null {
    return id === null ? null : this.url(path, id);
  }

  timestamp(micros: number): string {
    return formatTimestamp(micros, this.offsetMinutes);
  }

  record(kind: RecordKind, id: number): unknown {
    return kind === 'client' ? this.client(id) : this.patient(id);
  }

  client(id: number): unknown {
    const raw = this.store.rawRecords.client.get(id);
    if (raw !== undefined) return raw;
    const s = this.store.client(id);
    const table = this.store.clients;
    return {
      id,
      url: this.url('client', id),
      title: s.title,
      firstname: s.firstname,
      lastname: s.lastname,
      organization_name: s.organization_name,
      customer_type: s.customer_type,
      vat_number: s.vat_number,
      register_number: s.register_number,
      id_number: s.id_number,
      home_department: this.optionalUrl('department', s.home_department),
      street_address: s.street_address,
      street_address_2: s.street_address_2,
      street_address_3: s.street_address_3,
      zip_code: s.zip_code,
      city: s.city,
      state: s.state,
      country: s.country,
      email: s.email,
      alt_emails: s.alt_emails,
      critical_notes: s.critical_notes,
      remarks: s.remarks,
      archived: table.isArchived(id),
      no_sms: s.no_sms,
      no_email: s.no_email,
      external: s.external,
      imported: s.imported,
      patients: this.store.patientIdsOf(id).map((p) => this.url('patient', p)),
      invoicing_client: this.optionalUrl('client', s.invoicing_client),
      tags_rel: s.tags.map((tag) => ({ id: tag, name: `Tag ${tag}` })),
      phone_numbers: this.store.phoneIdsOf(id).map((p) => this.nestedPhone(p)),
      fields_rel: s.values.map((v) => this.value(v)),
      status_type: s.status_type,
      created: this.timestamp(table.created[id]!),
      created_user: this.optionalUrl('user', s.created_user),
      modified: this.timestamp(table.modified[id]!),
      modified_user: this.optionalUrl('user', s.modified_user),
    };
  }

  patient(id: number): unknown {
    const raw = this.store.rawRecords.patient.get(id);
    if (raw !== undefined) return raw;
    const s = this.store.patient(id);
    const table = this.store.patients;
    return {
      id,
      url: this.url('patient', id),
      client: this.url('client', table.owner[id]!),
      name: s.name,
      official_name: s.official_name,
      species: SPECIES_NAMES.get(s.species_code) ?? null,
      species_code: s.species_code,
      // A patient without a breed says so with the string "None", as Provet does.
      breed: (s.breed_code !== null ? BREED_NAMES.get(s.breed_code) : undefined) ?? 'None',
      breed_code: s.breed_code,
      gender: s.gender,
      weight: s.weight,
      date_of_birth: s.date_of_birth,
      deceased: s.deceased,
      microchip: s.microchip,
      archived: table.isArchived(id),
      home_department: this.optionalUrl('department', s.home_department),
      created: this.timestamp(table.created[id]!),
      modified: this.timestamp(table.modified[id]!),
      tags_rel: s.tags.map((tag) => ({ id: tag, name: `Tag ${tag}` })),
      fields_rel: s.values.map((v) => this.value(v)),
      date_of_registration: s.date_of_registration,
      remarks: s.remarks,
      insurance: s.insurance,
      insurance_company: s.insurance_company,
      old_patient_id: s.old_patient_id,
      reason_of_death: s.reason_of_death,
      color: s.color,
      passport_number: s.passport_number,
      critical_notes: s.critical_notes,
    };
  }

  /** The copy embedded in a client: other names than the phonenumber resource. */
  nestedPhone(id: number): Json {
    const s = this.store.phone(id);
    return {
      id,
      number: s.phone_number,
      type: s.type_code === 1 ? 'mobile' : 'landline',
      description: s.description,
      is_secondary_owners_phone_number: s.is_secondary_owners_phone_number,
    };
  }

  phone(id: number): Json {
    const s = this.store.phone(id);
    return {
      id,
      client: this.url('client', this.store.phones.owner[id]!),
      phone_number: s.phone_number,
      type_code: s.type_code,
      description: s.description,
      is_secondary_owners_phone_number: s.is_secondary_owners_phone_number,
    };
  }

  value(v: CustomValue): Json {
    return { id: v.id, field_id: v.fieldId, label: CUSTOM_FIELDS_BY_ID.get(v.fieldId)?.label ?? '', value: v.value };
  }

  customField(f: CustomFieldDefinition): Json {
    return {
      id: f.id,
      url: this.url('custom_fields', f.id),
      label: f.label,
      type: f.type,
      model: f.model,
      required: f.required,
      options: f.options,
    };
  }

  species(s: Species): Json {
    return { id: s.id, name: s.name };
  }

  breed(b: Breed): Json {
    return { id: b.id, name: b.name, species: b.species };
  }
}
