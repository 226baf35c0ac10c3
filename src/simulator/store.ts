// The installation's data: seeded records (typed arrays + regeneration) overlaid with the
// records that writes have touched. Every mutation goes through here, so the HTTP writes
// and the in-process API have exactly the same effects on `modified` and on cascades.
import { API_USER_ID, CUSTOM_FIELDS_BY_ID } from './catalog.js';
import { NotFoundError } from './errors.js';
import type { ClientState, CustomValue, PatientState, PhoneState, RecordKind } from './model.js';
import { seededClient, seededPatient, seededPhone, type SeedData } from './seed.js';
import { ARCHIVED, ARCHIVED_BY_CASCADE, DELETED, type RecordTable } from './tables.js';
import type { SimulatorClock } from './time.js';
import type { ClientInput, PatientInput, PhoneInput, ValueInput } from './validate.js';

export interface Behaviour {
  archiveCascadeMovesPatientModified: boolean;
  phoneChangeMovesClientModified: boolean;
  customValueChangeMovesModified: boolean;
}

export class Store {
  /** Bumped by every change, so cached list results know they are stale. */
  version = 0;
  readonly clients: RecordTable;
  readonly patients: RecordTable;
  readonly phones: RecordTable;
  private readonly seededClients: number;
  private readonly clientOverrides = new Map<number, ClientState>();
  private readonly patientOverrides = new Map<number, PatientState>();
  private readonly phoneOverrides = new Map<number, PhoneState>();
  /** Verbatim JSON that replaces a record's rendering (hostile-input tests). */
  readonly rawRecords = { client: new Map<number, unknown>(), patient: new Map<number, unknown>() };
  /** Patients / phone numbers that belong to a client other than the one they were seeded under. */
  private readonly extraPatients = new Map<number, Set<number>>();
  private readonly extraPhones = new Map<number, Set<number>>();

  constructor(
    private readonly data: SeedData,
    readonly clock: SimulatorClock,
    readonly behaviour: Behaviour,
  ) {
    this.clients = data.clients;
    this.patients = data.patients;
    this.phones = data.phones;
    this.seededClients = data.patientStart.length - 2;
  }

  // ---- reads ----

  exists(kind: 'client' | 'patient', id: number): boolean {
    return (kind === 'client' ? this.clients : this.patients).exists(id);
  }

  client(id: number): ClientState {
    return this.clientOverrides.get(id) ?? seededClient(this.data, id);
  }

  patient(id: number): PatientState {
    return this.patientOverrides.get(id) ?? seededPatient(this.data, id);
  }

  phone(id: number): PhoneState {
    return this.phoneOverrides.get(id) ?? seededPhone(this.data, id);
  }

  patientIdsOf(clientId: number): number[] {
    return this.ownedIds(this.patients, this.data.patientStart, this.extraPatients, clientId);
  }

  phoneIdsOf(clientId: number): number[] {
    return this.ownedIds(this.phones, this.data.phoneStart, this.extraPhones, clientId);
  }

  private ownedIds(table: RecordTable, start: Int32Array, extra: Map<number, Set<number>>, clientId: number): number[] {
    const ids: number[] = [];
    const owner = table.owner;
    if (clientId >= 1 && clientId <= this.seededClients) {
      for (let id = start[clientId]!, end = start[clientId + 1]!; id < end; id++) {
        if (owner[id] === clientId && table.exists(id)) ids.push(id);
      }
    }
    const moved = extra.get(clientId);
    if (moved) {
      for (const id of moved) if (owner[id] === clientId && table.exists(id) && !ids.includes(id)) ids.push(id);
      ids.sort((a, b) => a - b);
    }
    return ids;
  }

  private seededOwnerIs(start: Int32Array, id: number, clientId: number): boolean {
    return clientId <= this.seededClients && id >= start[clientId]! && id < start[clientId + 1]!;
  }

  private setOwner(
    table: RecordTable,
    start: Int32Array,
    extra: Map<number, Set<number>>,
    id: number,
    clientId: number,
  ): void {
    table.owner[id] = clientId;
    if (this.seededOwnerIs(start, id, clientId)) return;
    let set = extra.get(clientId);
    if (!set) extra.set(clientId, (set = new Set()));
    set.add(id);
  }

  // ---- helpers for writes ----

  private requireClient(id: number): ClientState {
    if (!this.clients.exists(id)) throw new NotFoundError(`client ${id}`);
    let state = this.clientOverrides.get(id);
    if (!state) this.clientOverrides.set(id, (state = seededClient(this.data, id)));
    return state;
  }

  private requirePatient(id: number): PatientState {
    if (!this.patients.exists(id)) throw new NotFoundError(`patient ${id}`);
    let state = this.patientOverrides.get(id);
    if (!state) this.patientOverrides.set(id, (state = seededPatient(this.data, id)));
    return state;
  }

  private requirePhone(id: number): PhoneState {
    if (!this.phones.exists(id)) throw new NotFoundError(`phone number ${id}`);
    let state = this.phoneOverrides.get(id);
    if (!state) this.phoneOverrides.set(id, (state = seededPhone(this.data, id)));
    return state;
  }

  /** A write to a record: its modified moves to now, and a raw replacement (setRaw) gives way to the real rendering. */
  private stamp(kind: RecordKind, id: number): void {
    (kind === 'client' ? this.clients : this.patients).modified[id] = this.clock.nextWriteMicros();
    this.rawRecords[kind].delete(id);
    const state = kind === 'client' ? this.clientOverrides.get(id) : undefined;
    if (state) state.modified_user = API_USER_ID;
  }

  private changed(): void {
    this.version++;
  }

  // ---- clients ----

  createClient(input: ClientInput): number {
    const id = this.clients.allocate();
    const now = this.clock.nextWriteMicros();
    this.clients.created[id] = now;
    this.clients.modified[id] = now;
    this.clients.flags[id] = input.archived ? ARCHIVED : 0;
    this.clientOverrides.set(id, {
      title: '',
      firstname: '',
      lastname: '',
      organization_name: '',
      customer_type: 0,
      vat_number: '',
      register_number: '',
      id_number: '',
      home_department: null,
      street_address: '',
      street_address_2: '',
      street_address_3: '',
      zip_code: '',
      city: '',
      state: '',
      country: '',
      email: '',
      alt_emails: '',
      critical_notes: '',
      remarks: '',
      no_sms: false,
      no_email: false,
      external: false,
      imported: false,
      invoicing_client: null,
      tags: [],
      status_type: null,
      created_user: API_USER_ID,
      modified_user: API_USER_ID,
      values: [],
      ...input.changes,
    });
    if (input.values) this.replaceValues('client', id, input.values);
    this.changed();
    return id;
  }

  updateClient(id: number, input: ClientInput): void {
    const state = this.requireClient(id);
    Object.assign(state, input.changes);
    if (input.values) this.replaceValues('client', id, input.values);
    // The client is saved first and its patients after, as the cascade would run.
    this.stamp('client', id);
    if (input.archived !== undefined) this.setClientArchived(id, input.archived);
    this.changed();
  }

  /** Archiving cascades to the client's patients; unarchiving undoes only what the cascade did. */
  private setClientArchived(id: number, archived: boolean): void {
    const flags = this.clients.flags;
    const wasArchived = (flags[id]! & ARCHIVED) !== 0;
    flags[id] = archived ? flags[id]! | ARCHIVED : flags[id]! & ~ARCHIVED;
    const moveModified = this.behaviour.archiveCascadeMovesPatientModified;
    for (const patientId of this.patientIdsOf(id)) {
      const pf = this.patients.flags[patientId]!;
      if (archived && (pf & ARCHIVED) === 0) {
        this.patients.flags[patientId] = pf | ARCHIVED | ARCHIVED_BY_CASCADE;
        if (moveModified) this.stamp('patient', patientId);
      } else if (!archived && wasArchived && (pf & ARCHIVED_BY_CASCADE) !== 0) {
        this.patients.flags[patientId] = pf & ~(ARCHIVED | ARCHIVED_BY_CASCADE);
        if (moveModified) this.stamp('patient', patientId);
      }
    }
  }

  /** Hard delete, as the UI can: the client's patients and phone numbers go with it. */
  deleteClient(id: number): void {
    if (!this.clients.exists(id)) throw new NotFoundError(`client ${id}`);
    this.clients.flags[id]! |= DELETED;
    this.clientOverrides.delete(id);
    this.rawRecords.client.delete(id);
    for (const patientId of this.patientIdsOf(id)) {
      this.patients.flags[patientId]! |= DELETED;
      this.patientOverrides.delete(patientId);
      this.rawRecords.patient.delete(patientId);
    }
    for (const phoneId of this.phoneIdsOf(id)) {
      this.phones.flags[phoneId]! |= DELETED;
      this.phoneOverrides.delete(phoneId);
    }
    this.changed();
  }

  // ---- patients ----

  createPatient(input: PatientInput): number {
    const clientId = input.client;
    if (clientId === undefined || !this.clients.exists(clientId)) throw new NotFoundError(`client ${String(clientId)}`);
    const id = this.patients.allocate();
    const now = this.clock.nextWriteMicros();
    this.patients.created[id] = now;
    this.patients.modified[id] = now;
    this.patients.flags[id] = input.archived ? ARCHIVED : 0;
    this.setOwner(this.patients, this.data.patientStart, this.extraPatients, id, clientId);
    this.patientOverrides.set(id, {
      name: '',
      official_name: '',
      species_code: 0,
      breed_code: null,
      gender: null,
      weight: null,
      date_of_birth: null,
      deceased: null,
      microchip: null,
      home_department: null,
      tags: [],
      date_of_registration: null,
      remarks: '',
      insurance: false,
      insurance_company: '',
      old_patient_id: '',
      reason_of_death: '',
      color: '',
      passport_number: '',
      critical_notes: '',
      values: [],
      ...input.changes,
    });
    if (input.values) this.replaceValues('patient', id, input.values);
    this.changed();
    return id;
  }

  updatePatient(id: number, input: PatientInput): void {
    const state = this.requirePatient(id);
    Object.assign(state, input.changes);
    if (input.values) this.replaceValues('patient', id, input.values);
    if (input.client !== undefined)
      this.setOwner(this.patients, this.data.patientStart, this.extraPatients, id, input.client);
    if (input.archived !== undefined) {
      // Archiving a patient by hand makes it the patient's own state, not the cascade's.
      const pf = this.patients.flags[id]! & ~(ARCHIVED | ARCHIVED_BY_CASCADE);
      this.patients.flags[id] = input.archived ? pf | ARCHIVED : pf;
    }
    this.stamp('patient', id);
    this.changed();
  }

  // ---- custom field values ----

  /** Values of a record, creating an override so they can be changed. */
  private valuesOf(kind: RecordKind, id: number): CustomValue[] {
    return (kind === 'client' ? this.requireClient(id) : this.requirePatient(id)).values;
  }

  /** fields_rel in a create or PATCH body: the new complete set (existing values keep their ids). */
  private replaceValues(kind: RecordKind, id: number, inputs: ValueInput[]): void {
    const state = kind === 'client' ? this.requireClient(id) : this.requirePatient(id);
    state.values = inputs.map((input) => {
      const existing = state.values.find((v) => v.fieldId === input.fieldId);
      return { id: existing ? existing.id : this.data.nextValueId++, fieldId: input.fieldId, value: input.value };
    });
  }

  /** As the nested custom_field_values POST: creates, or updates the existing value of that field. */
  setValue(kind: RecordKind, id: number, input: ValueInput): { value: CustomValue; created: boolean } {
    const field = CUSTOM_FIELDS_BY_ID.get(input.fieldId);
    if (!field || field.model !== kind) throw new NotFoundError(`custom field ${input.fieldId} for ${kind}`);
    const values = this.valuesOf(kind, id);
    let value = values.find((v) => v.fieldId === input.fieldId);
    const created = !value;
    if (value) value.value = input.value;
    else {
      value = { id: this.data.nextValueId++, fieldId: input.fieldId, value: input.value };
      values.push(value);
    }
    this.afterValueChange(kind, id);
    return { value, created };
  }

  /** As a PATCH whose fields_rel leaves the value out: a write to the record, so its modified moves. */
  removeValue(kind: RecordKind, id: number, fieldId: number): void {
    const state = kind === 'client' ? this.requireClient(id) : this.requirePatient(id);
    state.values = state.values.filter((v) => v.fieldId !== fieldId);
    this.stamp(kind, id);
    this.changed();
  }

  private afterValueChange(kind: RecordKind, id: number): void {
    if (this.behaviour.customValueChangeMovesModified) this.stamp(kind, id);
    this.changed();
  }

  // ---- phone numbers ----

  addPhone(input: PhoneInput): number {
    const clientId = input.client;
    if (clientId === undefined || !this.clients.exists(clientId)) throw new NotFoundError(`client ${String(clientId)}`);
    const id = this.phones.allocate();
    this.setOwner(this.phones, this.data.phoneStart, this.extraPhones, id, clientId);
    this.phoneOverrides.set(id, {
      phone_number: '',
      type_code: 1,
      description: '',
      is_secondary_owners_phone_number: false,
      ...input.changes,
    });
    this.afterPhoneChange(clientId);
    return id;
  }

  updatePhone(id: number, input: PhoneInput): void {
    const state = this.requirePhone(id);
    const before = this.phones.owner[id]!;
    Object.assign(state, input.changes);
    if (input.client !== undefined && input.client !== before) {
      this.setOwner(this.phones, this.data.phoneStart, this.extraPhones, id, input.client);
      this.afterPhoneChange(before);
    }
    this.afterPhoneChange(this.phones.owner[id]!);
  }

  removePhone(id: number): void {
    if (!this.phones.exists(id)) throw new NotFoundError(`phone number ${id}`);
    this.phones.flags[id]! |= DELETED;
    this.phoneOverrides.delete(id);
    this.afterPhoneChange(this.phones.owner[id]!);
  }

  /** The client's nested phone_numbers changed; whether its modified moves is a behaviour switch. */
  private afterPhoneChange(clientId: number): void {
    if (this.behaviour.phoneChangeMovesClientModified && this.clients.exists(clientId)) this.stamp('client', clientId);
    this.changed();
  }

  // ---- test helpers ----

  /** Gives several records one shared modified stamp (page-boundary tests). Moves nothing else. */
  touch(kind: RecordKind, ids: readonly number[], micros: number): void {
    const table = kind === 'client' ? this.clients : this.patients;
    for (const id of ids) {
      if (!table.exists(id)) throw new NotFoundError(`${kind} ${id}`);
      table.modified[id] = micros;
    }
    this.changed();
  }

  setRaw(kind: RecordKind, id: number, raw: unknown): void {
    if (!this.exists(kind, id)) throw new NotFoundError(`${kind} ${id}`);
    // A copy: the caller changing its object afterwards is not a change to the store (and would
    // not reach a rendering the API has cached).
    this.rawRecords[kind].set(id, structuredClone(raw));
    this.changed();
  }
}
