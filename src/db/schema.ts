// The mirror's tables, as drizzle declarations. drizzle-kit generates migrations/ from this file.
//
// Tables are declared without a schema: every connection sets search_path to the schema named by
// PROVET_DB_SCHEMA, so one set of migrations serves any number of installations side by side.
// There are deliberately no foreign keys between mirrored tables: Provet hands records over in
// whatever order its pages come, a patient may land before its client, and the mirror must keep
// what Provet says even when it is inconsistent for a moment.
import { getTableColumns, getTableName, sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  type PgColumn,
  type PgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/** Provet sends timestamps with microseconds; keep them as strings in JS so none are lost. */
const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 6, mode: 'string' });
const providerId = (name: string) => bigint(name, { mode: 'number' });
const syncedAt = () =>
  instant('synced_at')
    .notNull()
    .default(sql`now()`);

export const clients = pgTable(
  'clients',
  {
    id: providerId('id').primaryKey(),
    title: text('title'),
    firstname: text('firstname'),
    lastname: text('lastname'),
    organizationName: text('organization_name'),
    email: text('email'),
    customerType: integer('customer_type'),
    streetAddress: text('street_address'),
    zipCode: text('zip_code'),
    city: text('city'),
    country: text('country'),
    homeDepartmentId: providerId('home_department_id'),
    noSms: boolean('no_sms'),
    noEmail: boolean('no_email'),
    archived: boolean('archived').notNull().default(false),
    archivedSeenAt: instant('archived_seen_at'),
    // Set by reconciliation or a webhook re-fetch when Provet no longer has the record (a hard
    // delete, which polling by modified cannot see); cleared when it is seen again. Never dropped.
    deletedAt: instant('deleted_at'),
    // Set when the purge erased the deleted record's personal data (DELETED_RETENTION_DAYS, see
    // db/purge.ts): the row stays as a tombstone, so historical counts keep their meaning.
    purgedAt: instant('purged_at'),
    created: instant('created'),
    modified: instant('modified').notNull(),
    raw: jsonb('raw').notNull(),
    syncedAt: syncedAt(),
  },
  (t) => [index('clients_modified_idx').on(t.modified)],
);

export const patients = pgTable(
  'patients',
  {
    id: providerId('id').primaryKey(),
    clientId: providerId('client_id'),
    name: text('name'),
    species: text('species'),
    speciesCode: bigint('species_code', { mode: 'number' }),
    breed: text('breed'),
    breedCode: bigint('breed_code', { mode: 'number' }),
    gender: text('gender'),
    weight: numeric('weight'),
    dateOfBirth: date('date_of_birth', { mode: 'string' }),
    deceased: date('deceased', { mode: 'string' }),
    microchip: text('microchip'),
    color: text('color'),
    homeDepartmentId: providerId('home_department_id'),
    archived: boolean('archived').notNull().default(false),
    archivedSeenAt: instant('archived_seen_at'),
    // Set by reconciliation or a webhook re-fetch when Provet no longer has the record (a hard
    // delete, which polling by modified cannot see); cleared when it is seen again. Never dropped.
    deletedAt: instant('deleted_at'),
    // Set when the purge erased the deleted record's personal data (DELETED_RETENTION_DAYS, see
    // db/purge.ts): the row stays as a tombstone, so historical counts keep their meaning.
    purgedAt: instant('purged_at'),
    created: instant('created'),
    modified: instant('modified').notNull(),
    raw: jsonb('raw').notNull(),
    syncedAt: syncedAt(),
  },
  (t) => [index('patients_client_id_idx').on(t.clientId), index('patients_modified_idx').on(t.modified)],
);

export const phoneNumbers = pgTable(
  'phone_numbers',
  {
    id: providerId('id').primaryKey(),
    clientId: providerId('client_id').notNull(),
    phoneNumber: text('phone_number'),
    typeCode: integer('type_code'),
    description: text('description'),
    raw: jsonb('raw').notNull(),
    syncedAt: syncedAt(),
  },
  (t) => [index('phone_numbers_client_id_idx').on(t.clientId)],
);

export const customFields = pgTable('custom_fields', {
  id: providerId('id').primaryKey(),
  label: text('label'),
  type: text('type'),
  model: text('model'),
  raw: jsonb('raw').notNull(),
  syncedAt: syncedAt(),
});

export const customFieldValues = pgTable(
  'custom_field_values',
  {
    // Value ids come from two Provet tables (client values, patient values), so the id is unique
    // only together with the kind of record it belongs to.
    objectType: text('object_type').$type<'client' | 'patient'>().notNull(),
    id: providerId('id').notNull(),
    fieldId: providerId('field_id').notNull(),
    objectId: providerId('object_id').notNull(),
    label: text('label'),
    value: jsonb('value'),
    raw: jsonb('raw').notNull(),
    syncedAt: syncedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.objectType, t.id] }),
    index('custom_field_values_object_idx').on(t.objectType, t.objectId),
    check('custom_field_values_object_type_check', sql`${t.objectType} in ('client', 'patient')`),
  ],
);

export const species = pgTable('species', {
  id: providerId('id').primaryKey(),
  name: text('name'),
  raw: jsonb('raw').notNull(),
  syncedAt: syncedAt(),
});

export const breeds = pgTable('breeds', {
  id: providerId('id').primaryKey(),
  name: text('name'),
  speciesId: providerId('species_id'),
  raw: jsonb('raw').notNull(),
  syncedAt: syncedAt(),
});

/**
 * The tables that hold Provet's data, as opposed to provet-sync's own bookkeeping below: what
 * `status` counts and what `grant-reader` opens to analysts (with the views over them).
 */
export const MIRRORED_TABLES: readonly string[] = [
  clients,
  patients,
  phoneNumbers,
  customFields,
  customFieldValues,
  species,
  breeds,
].map((table) => getTableName(table));

/**
 * What each column of a mirrored table says about a person: the one declaration of personal data
 * (GDPR), read by the identity-free views of `grant-reader --no-identities` (db/roles.ts) and by
 * the purge of deleted records (db/purge.ts). A column added to a mirrored table is a compile
 * error here until it is classified, and test/unit/personal-data.test.ts checks the same at run time.
 * - 'identity': names a person or reaches one directly: people's and organisations' names, emails,
 *   street addresses, phone numbers, microchip numbers (registries map them to owners), free text
 *   (phone descriptions, custom values) and `raw`, which holds every field Provet sends
 *   (id_number, remarks, critical_notes, ...). Hidden from the identity-free views; erased by the purge.
 * - 'personal': about a person or their animal without naming them (zip code, city, a pet's name).
 *   Shown in the identity-free views, where counts by place need them; erased by the purge.
 * - 'none': not about a person: ids, codes, flags, timestamps, codelists. Shown, and kept.
 */
export type PersonalDataClass = 'identity' | 'personal' | 'none';

type Classification<T extends PgTable> = Record<keyof T['_']['columns'], PersonalDataClass>;

const keptFields = { syncedAt: 'none' } as const;

export const PERSONAL_DATA = {
  clients: {
    id: 'none',
    title: 'identity',
    firstname: 'identity',
    lastname: 'identity',
    organizationName: 'identity',
    email: 'identity',
    customerType: 'none',
    streetAddress: 'identity',
    zipCode: 'personal',
    city: 'personal',
    country: 'personal',
    homeDepartmentId: 'none',
    noSms: 'none',
    noEmail: 'none',
    archived: 'none',
    archivedSeenAt: 'none',
    deletedAt: 'none',
    purgedAt: 'none',
    created: 'none',
    modified: 'none',
    raw: 'identity',
    ...keptFields,
  } satisfies Classification<typeof clients>,
  patients: {
    id: 'none',
    clientId: 'none',
    name: 'personal',
    species: 'none',
    speciesCode: 'none',
    breed: 'none',
    breedCode: 'none',
    gender: 'none',
    weight: 'none',
    dateOfBirth: 'none',
    deceased: 'none',
    microchip: 'identity',
    color: 'none',
    homeDepartmentId: 'none',
    archived: 'none',
    archivedSeenAt: 'none',
    deletedAt: 'none',
    purgedAt: 'none',
    created: 'none',
    modified: 'none',
    raw: 'identity',
    ...keptFields,
  } satisfies Classification<typeof patients>,
  phone_numbers: {
    id: 'none',
    clientId: 'none',
    phoneNumber: 'identity',
    typeCode: 'none',
    description: 'identity',
    raw: 'identity',
    ...keptFields,
  } satisfies Classification<typeof phoneNumbers>,
  custom_fields: {
    id: 'none',
    label: 'none',
    type: 'none',
    model: 'none',
    raw: 'none',
    ...keptFields,
  } satisfies Classification<typeof customFields>,
  custom_field_values: {
    objectType: 'none',
    id: 'none',
    fieldId: 'none',
    objectId: 'none',
    label: 'none',
    value: 'identity',
    raw: 'identity',
    ...keptFields,
  } satisfies Classification<typeof customFieldValues>,
  species: { id: 'none', name: 'none', raw: 'none', ...keptFields } satisfies Classification<typeof species>,
  breeds: {
    id: 'none',
    name: 'none',
    speciesId: 'none',
    raw: 'none',
    ...keptFields,
  } satisfies Classification<typeof breeds>,
} as const;

const TABLES_BY_NAME = {
  clients,
  patients,
  phone_numbers: phoneNumbers,
  custom_fields: customFields,
  custom_field_values: customFieldValues,
  species,
  breeds,
};

export interface ClassifiedColumn {
  /** The column's SQL name. */
  name: string;
  class: PersonalDataClass;
  notNull: boolean;
  isJson: boolean;
}

/** A mirrored table's columns, in the table's order, with their classification. */
export function classifiedColumns(table: keyof typeof PERSONAL_DATA): ClassifiedColumn[] {
  const classes: Record<string, PersonalDataClass> = PERSONAL_DATA[table];
  const columns: Record<string, PgColumn> = getTableColumns(TABLES_BY_NAME[table]);
  return Object.entries(columns).map(([key, column]) => ({
    name: column.name,
    class: classes[key]!,
    notNull: column.notNull,
    isJson: column.dataType === 'json',
  }));
}

export const syncState = pgTable('sync_state', {
  stream: text('stream').primaryKey(),
  watermark: instant('watermark'),
  lastRunId: bigint('last_run_id', { mode: 'number' }),
  updatedAt: instant('updated_at')
    .notNull()
    .default(sql`now()`),
});

export const syncRuns = pgTable('sync_runs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  kind: text('kind').notNull(),
  status: text('status').notNull(),
  startedAt: instant('started_at')
    .notNull()
    .default(sql`now()`),
  finishedAt: instant('finished_at'),
  providerStartedAt: instant('provider_started_at'),
  recordsFetched: integer('records_fetched').notNull().default(0),
  recordsWritten: integer('records_written').notNull().default(0),
  recordsRejected: integer('records_rejected').notNull().default(0),
  pages: integer('pages').notNull().default(0),
  requests: integer('requests').notNull().default(0),
  throttled: integer('throttled').notNull().default(0),
  streams: jsonb('streams')
    .notNull()
    .default(sql`'{}'::jsonb`),
  error: text('error'),
});

export const syncRejects = pgTable(
  'sync_rejects',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    runId: bigint('run_id', { mode: 'number' }),
    stream: text('stream').notNull(),
    recordId: text('record_id'),
    reason: text('reason').notNull(),
    payload: text('payload').notNull(),
    rejectedAt: instant('rejected_at')
      .notNull()
      .default(sql`now()`),
  },
  (t) => [index('sync_rejects_run_idx').on(t.runId)],
);

/** Clients whose archived state changed: their full patient lists must be read again (see sync/patients.ts). */
export const patientRereads = pgTable(
  'patient_rereads',
  {
    clientId: providerId('client_id').notNull(),
    queuedAt: instant('queued_at')
      .notNull()
      .default(sql`now()`),
    runId: bigint('run_id', { mode: 'number' }),
  },
  (t) => [primaryKey({ columns: [t.clientId] })],
);

/**
 * The fencing token of the run that may write: one row, naming the run that last took the run
 * lock. Every page and watermark write checks it in its own transaction, so a process that lost
 * the lock while paused (its connection dropped, another run took over) cannot write when it wakes.
 */
export const syncLease = pgTable(
  'sync_lease',
  {
    singleton: boolean('singleton').notNull().default(true).primaryKey(),
    runId: bigint('run_id', { mode: 'number' }).notNull(),
    takenAt: instant('taken_at')
      .notNull()
      .default(sql`now()`),
  },
  (t) => [check('sync_lease_singleton_check', sql`${t.singleton}`)],
);
