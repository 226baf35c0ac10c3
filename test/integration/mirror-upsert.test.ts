// The upsert rule and the owned-row replacement of src/db/mirror/, checked directly on a real
// database, without the simulator or the mappers: rows are written by hand and read back with SQL.
// The rule (see the top of mirror/record-upsert.ts): a client or patient row is written only when
// the incoming version is newer, or is the same version with different content; an older version
// never replaces a newer one; an unchanged record writes nothing (its row version, xmin, stays); what
// the incoming record says replaces the row wholesale, nulls included. The phone numbers and
// custom values of a written client are replaced by the incoming ones; a client not written keeps
// its own. The mirror functions do not check the run lease themselves (land.ts does, around
// them), so they run here on a plain pooled connection in BEGIN/COMMIT, in the order
// sync/clients.ts writeClients calls them.
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateSchema } from '../../src/db/migrate.js';
import {
  replaceFieldValues,
  replacePhoneNumbers,
  type FieldValueUpsertRow,
  type PhoneNumberUpsertRow,
} from '../../src/db/mirror/owned-rows.js';
import {
  upsertClients,
  upsertPatients,
  type ClientUpsertRow,
  type PatientUpsertRow,
  type UpsertResult,
} from '../../src/db/mirror/record-upsert.js';
import { createLogger } from '../../src/log.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDatabase: TestDatabase;
let db: Database;

beforeAll(async () => {
  const logger = createLogger('silent');
  testDatabase = await createTestDatabase();
  db = await openDatabase(
    {
      url: testDatabase.url,
      schema: 'provet',
      connectDeadlineMs: 10_000,
      embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
    },
    logger,
  );
  await migrateSchema(db.pool, 'provet', logger);
});
afterAll(async () => {
  await db?.close();
  await testDatabase?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE clients, patients, phone_numbers, custom_field_values');
});

async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

// ---- Rows as the mapper would hand them over; raw is the record the typed columns came from ----

type ClientFields = Omit<ClientUpsertRow, 'id' | 'modified' | 'rawJson'>;
type PatientFields = Omit<PatientUpsertRow, 'id' | 'modified' | 'rawJson'>;

const CLIENT_DEFAULTS: ClientFields = {
  title: 'Ms',
  firstname: 'Aino',
  lastname: 'Virtanen',
  organizationName: null,
  email: 'aino@example.com',
  customerType: 0,
  streetAddress: 'Mannerheimintie 1',
  zipCode: '00100',
  city: 'Helsinki',
  country: 'FI',
  homeDepartmentId: 3,
  noSms: false,
  noEmail: false,
  archived: false,
  created: '2020-01-01T10:00:00.000001+02:00',
};

const PATIENT_DEFAULTS: PatientFields = {
  clientId: 1,
  name: 'Rex',
  species: 'Dog (Canine - Domestic)',
  speciesCode: 448771007,
  breed: 'Labrador',
  breedCode: 12,
  gender: 'Male',
  weight: '32.50',
  dateOfBirth: '2019-05-04',
  deceased: null,
  microchip: '900123456789012',
  color: 'Black',
  homeDepartmentId: 3,
  archived: false,
  created: '2020-01-01T10:00:00.000001+02:00',
};

function client(id: number, modified: string, fields: Partial<ClientFields> = {}): ClientUpsertRow {
  const row = { id, ...CLIENT_DEFAULTS, ...fields, modified };
  return { ...row, rawJson: JSON.stringify(row) };
}

function patient(id: number, modified: string, fields: Partial<PatientFields> = {}): PatientUpsertRow {
  const row = { id, ...PATIENT_DEFAULTS, ...fields, modified };
  return { ...row, rawJson: JSON.stringify(row) };
}

function phone(id: number, clientId: number, number: string, typeCode: number | null = 1): PhoneNumberUpsertRow {
  const row = { id, clientId, phoneNumber: number, typeCode, description: null };
  return { ...row, rawJson: JSON.stringify({ id, number, type: typeCode === 1 ? 'mobile' : 'landline' }) };
}

function value(
  objectType: 'client' | 'patient',
  id: number,
  objectId: number,
  fieldId: number,
  v: unknown,
): FieldValueUpsertRow {
  return {
    objectType,
    id,
    fieldId,
    objectId,
    label: `Field ${fieldId}`,
    valueJson: v === null ? null : JSON.stringify(v),
    rawJson: JSON.stringify({ id, field_id: fieldId, label: `Field ${fieldId}`, value: v }),
  };
}

interface ClientPage {
  clients: ClientUpsertRow[];
  phones?: PhoneNumberUpsertRow[];
  values?: FieldValueUpsertRow[];
  providerNow?: string | null;
}

/**
 * A page of clients landed as writeClients lands it: the versioned upsert, then the phone numbers
 * and custom values of the clients it wrote (only those), in one transaction.
 */
function landClients({ clients, phones = [], values = [], providerNow = null }: ClientPage): Promise<UpsertResult> {
  return inTransaction(async (tx) => {
    const result = await upsertClients(tx, clients, providerNow, {
      phoneNumberIds: phones.map((p) => p.id),
      fieldValueIds: values.map((v) => v.id),
    });
    const written = new Set(result.written.map((w) => w.id));
    await replacePhoneNumbers(
      tx,
      result.written,
      phones.filter((p) => written.has(p.clientId)),
      result.ownedKnown?.phoneNumbers ?? null,
    );
    await replaceFieldValues(
      tx,
      'client',
      result.written,
      values.filter((v) => written.has(v.objectId)),
      result.ownedKnown?.fieldValues ?? null,
    );
    return result;
  });
}

function landPatients(
  patients: PatientUpsertRow[],
  values: FieldValueUpsertRow[] = [],
  providerNow: string | null = null,
): Promise<UpsertResult> {
  return inTransaction(async (tx) => {
    const result = await upsertPatients(tx, patients, providerNow, {
      phoneNumberIds: [],
      fieldValueIds: values.map((v) => v.id),
    });
    const written = new Set(result.written.map((w) => w.id));
    await replaceFieldValues(
      tx,
      'patient',
      result.written,
      values.filter((v) => written.has(v.objectId)),
      result.ownedKnown?.fieldValues ?? null,
    );
    return result;
  });
}

const writtenIds = (result: UpsertResult) => result.written.map((w) => w.id).sort((a, b) => a - b);

/** A row's version (xmin) and what it holds, by id. */
async function clientRow(id: number): Promise<Record<string, unknown> | undefined> {
  const result = await db.pool.query(
    `SELECT xmin::text AS xmin, firstname, lastname, email, city, no_sms, home_department_id::int AS home_department_id,
       (extract(epoch FROM modified) * 1000000)::bigint::text AS modified_us, raw
     FROM clients WHERE id = $1`,
    [id],
  );
  return result.rows[0];
}

async function patientRow(id: number): Promise<Record<string, unknown> | undefined> {
  const result = await db.pool.query(
    `SELECT xmin::text AS xmin, name, weight::text AS weight, deceased::text AS deceased, microchip, raw FROM patients WHERE id = $1`,
    [id],
  );
  return result.rows[0];
}

async function phonesOf(): Promise<Record<string, unknown>[]> {
  const result = await db.pool.query(
    'SELECT id::int AS id, client_id::int AS client_id, phone_number, type_code, xmin::text AS xmin FROM phone_numbers ORDER BY id',
  );
  return result.rows;
}

async function valuesOf(): Promise<Record<string, unknown>[]> {
  const result = await db.pool.query(
    `SELECT object_type, id::int AS id, object_id::int AS object_id, field_id::int AS field_id, value, xmin::text AS xmin
     FROM custom_field_values ORDER BY object_type, id`,
  );
  return result.rows;
}

const T1 = '2024-03-01T12:00:00.000001+02:00';
const T2 = '2024-03-01T12:00:00.000002+02:00'; // one microsecond after T1
const T3 = '2024-03-02T09:30:00.5+02:00';

describe('the upsert rule for clients and patients', () => {
  it('writes a new row, then takes a newer version (one microsecond newer is newer)', async () => {
    const first = await landClients({ clients: [client(1, T1, { firstname: 'Aino' })] });
    expect(first.written).toEqual([{ id: 1, archived: false, previousArchived: null, copiedAsNew: true }]);
    const newer = await landClients({ clients: [client(1, T2, { firstname: 'Anni' })] });
    expect(writtenIds(newer)).toEqual([1]);
    expect(await clientRow(1)).toMatchObject({
      firstname: 'Anni',
      modified_us: String(Date.parse('2024-03-01T10:00:00Z') * 1000 + 2),
    });
  });

  it('never lets an older version replace a newer row, even one microsecond older', async () => {
    await landClients({ clients: [client(1, T2, { firstname: 'Newer' })] });
    const before = await clientRow(1);
    const older = await landClients({ clients: [client(1, T1, { firstname: 'Older' })] });
    expect(older.written).toEqual([]);
    expect(await clientRow(1)).toEqual(before);

    await landPatients([patient(7, T3, { name: 'Newer' })]);
    const patientBefore = await patientRow(7);
    expect((await landPatients([patient(7, T1, { name: 'Older' })])).written).toEqual([]);
    expect(await patientRow(7)).toEqual(patientBefore);
  });

  it('does not rewrite an identical row: no write, the row version (xmin) stays', async () => {
    const page = [client(1, T1), client(2, T1, { firstname: 'Bo' })];
    await landClients({ clients: page });
    const before = [await clientRow(1), await clientRow(2)];
    const again = await landClients({ clients: page });
    expect(again.written).toEqual([]);
    expect([await clientRow(1), await clientRow(2)]).toEqual(before);

    await landPatients([patient(7, T1)]);
    const patientBefore = await patientRow(7);
    expect((await landPatients([patient(7, T1)])).written).toEqual([]);
    expect((await patientRow(7))?.xmin).toBe(patientBefore?.xmin);
  });

  it('rewrites the same version with different content (Provet can change a record without moving modified)', async () => {
    await landClients({ clients: [client(1, T1, { city: 'Helsinki' })] });
    const before = await clientRow(1);
    const changed = await landClients({ clients: [client(1, T1, { city: 'Espoo' })] });
    expect(writtenIds(changed)).toEqual([1]);
    const after = await clientRow(1);
    expect(after).toMatchObject({ city: 'Espoo', modified_us: before?.modified_us });
    expect(after?.xmin).not.toBe(before?.xmin);
    expect((after?.raw as { city: string }).city).toBe('Espoo');
  });

  it('takes one record of a mixed page and leaves the others: new, newer, identical and older side by side', async () => {
    await landClients({ clients: [client(1, T1), client(2, T2), client(3, T1)] });
    const before = { 2: await clientRow(2), 3: await clientRow(3) };
    const result = await landClients({
      clients: [
        client(1, T2, { firstname: 'Newer' }),
        client(2, T1, { firstname: 'Older' }),
        client(3, T1),
        client(4, T1, { firstname: 'New' }),
      ],
    });
    expect(writtenIds(result)).toEqual([1, 4]);
    expect(result.written.find((w) => w.id === 4)).toMatchObject({ previousArchived: null, copiedAsNew: false });
    expect(result.written.find((w) => w.id === 1)).toMatchObject({ previousArchived: false });
    expect(await clientRow(1)).toMatchObject({ firstname: 'Newer' });
    expect(await clientRow(2)).toEqual(before[2]);
    expect(await clientRow(3)).toEqual(before[3]);
    expect(await clientRow(4)).toMatchObject({ firstname: 'New' });
  });

  it('lets a null in the incoming record overwrite a stored value', async () => {
    await landClients({
      clients: [client(1, T1, { email: 'aino@example.com', city: 'Helsinki', noSms: true, homeDepartmentId: 3 })],
    });
    await landClients({
      clients: [client(1, T2, { email: null, city: null, noSms: null, homeDepartmentId: null })],
    });
    expect(await clientRow(1)).toMatchObject({ email: null, city: null, no_sms: null, home_department_id: null });

    await landPatients([patient(7, T1, { weight: '32.50', deceased: null, microchip: '900123456789012' })]);
    await landPatients([patient(7, T2, { weight: null, deceased: '2024-02-29', microchip: null })]);
    expect(await patientRow(7)).toMatchObject({ weight: null, deceased: '2024-02-29', microchip: null });
  });

  it('takes different content over a stored modified later than Provet’s clock now (a clock that stepped back), and only then', async () => {
    await landClients({ clients: [client(1, T3, { firstname: 'From the future' })] });
    // Provet's clock is still before T3: without it nothing older is taken.
    expect((await landClients({ clients: [client(1, T1, { firstname: 'Present' })] })).written).toEqual([]);
    const providerNow = '2024-03-01T11:00:00.000000+02:00';
    const result = await landClients({ clients: [client(1, T1, { firstname: 'Present' })], providerNow });
    expect(writtenIds(result)).toEqual([1]);
    expect(await clientRow(1)).toMatchObject({ firstname: 'Present' });
    // Unchanged content is still not rewritten under the exception.
    const before = await clientRow(1);
    expect((await landClients({ clients: [client(1, T1, { firstname: 'Present' })], providerNow })).written).toEqual(
      [],
    );
    expect(await clientRow(1)).toEqual(before);
  });
});

describe('phone numbers and custom values owned by a client', () => {
  /** Clients 1 and 2 with their numbers and values, and patient 1 with a value of the same id as a client's. */
  async function seed(): Promise<void> {
    await landClients({
      clients: [client(1, T1), client(2, T1, { firstname: 'Bo' })],
      phones: [phone(11, 1, '+358401111111'), phone(12, 1, '050-1234567', 0), phone(21, 2, '+44 7123 456789')],
      values: [
        value('client', 101, 1, 41, 'gold'),
        value('client', 102, 1, 42, '42'),
        value('client', 201, 2, 41, 'silver'),
      ],
    });
    await landPatients([patient(1, T1, { clientId: 1 })], [value('patient', 101, 1, 51, [{ id: 3, name: 'Indoor' }])]);
  }

  it('are replaced when the client is written: removed ones are gone, changed ones follow, others’ are untouched', async () => {
    await seed();
    const phonesBefore = await phonesOf();
    const valuesBefore = await valuesOf();
    const result = await landClients({
      clients: [client(1, T2)],
      phones: [phone(12, 1, '050-7654321', 0), phone(13, 1, '+358402222222')],
      values: [value('client', 102, 1, 42, '43'), value('client', 103, 1, 43, null)],
    });
    expect(writtenIds(result)).toEqual([1]);

    const phones = await phonesOf();
    expect(phones.map(({ xmin: _x, ...p }) => p)).toEqual([
      { id: 12, client_id: 1, phone_number: '050-7654321', type_code: 0 },
      { id: 13, client_id: 1, phone_number: '+358402222222', type_code: 1 },
      { id: 21, client_id: 2, phone_number: '+44 7123 456789', type_code: 1 },
    ]);
    // Client 2's number is not rewritten at all.
    expect(phones.find((p) => p.id === 21)).toEqual(phonesBefore.find((p) => p.id === 21));

    const values = await valuesOf();
    expect(values.map(({ xmin: _x, ...v }) => v)).toEqual([
      { object_type: 'client', id: 102, object_id: 1, field_id: 42, value: '43' },
      { object_type: 'client', id: 103, object_id: 1, field_id: 43, value: null },
      { object_type: 'client', id: 201, object_id: 2, field_id: 41, value: 'silver' },
      { object_type: 'patient', id: 101, object_id: 1, field_id: 51, value: [{ id: 3, name: 'Indoor' }] },
    ]);
    // Client 2's value, and the patient's value that shares id 101 and object id 1 with a removed
    // client value, are not rewritten.
    for (const key of ['client:201', 'patient:101']) {
      const find = (rows: Record<string, unknown>[]) =>
        rows.find((v) => `${String(v.object_type)}:${String(v.id)}` === key);
      expect(find(values)).toEqual(find(valuesBefore));
    }
  });

  it('are all removed when a written client carries none', async () => {
    await seed();
    await landClients({ clients: [client(1, T2)] });
    expect((await phonesOf()).map((p) => p.id)).toEqual([21]);
    expect((await valuesOf()).map((v) => `${String(v.object_type)}:${String(v.id)}`)).toEqual([
      'client:201',
      'patient:101',
    ]);
  });

  it('are left alone when the client row is not written (identical or older)', async () => {
    await seed();
    const phonesBefore = await phonesOf();
    const valuesBefore = await valuesOf();
    // The identical version and an older one, each carrying other numbers and values than the mirror holds.
    for (const version of [client(1, T1), client(1, '2024-01-01T00:00:00+02:00', { firstname: 'Old' })]) {
      const result = await landClients({
        clients: [version],
        phones: [phone(14, 1, '+358409999999')],
        values: [value('client', 104, 1, 44, 'True')],
      });
      expect(result.written).toEqual([]);
      expect(await phonesOf()).toEqual(phonesBefore);
      expect(await valuesOf()).toEqual(valuesBefore);
    }
    // Nor does replacing for no written owner touch anything.
    await inTransaction(async (tx) => {
      await replacePhoneNumbers(tx, [], [], null);
      await replaceFieldValues(tx, 'client', [], [], null);
    });
    expect(await phonesOf()).toEqual(phonesBefore);
    expect(await valuesOf()).toEqual(valuesBefore);
  });

  it('follow a number that moved to another client, whether that client is known or new', async () => {
    await seed();
    // Client 2 is written with client 1's number 12; client 1 is not read again.
    await landClients({
      clients: [client(2, T2, { firstname: 'Bo' })],
      phones: [phone(21, 2, '+44 7123 456789'), phone(12, 2, '050-1234567', 0)],
    });
    expect((await phonesOf()).map(({ id, client_id }) => ({ id, client_id }))).toEqual([
      { id: 11, client_id: 1 },
      { id: 12, client_id: 2 },
      { id: 21, client_id: 2 },
    ]);
    // A client new to the mirror (its page COPYed straight in) arrives with number 11.
    const result = await landClients({
      clients: [client(3, T2, { firstname: 'New' })],
      phones: [phone(11, 3, '+358401111111')],
    });
    expect(result.written).toEqual([{ id: 3, archived: false, previousArchived: null, copiedAsNew: true }]);
    expect((await phonesOf()).map(({ id, client_id }) => ({ id, client_id }))).toEqual([
      { id: 11, client_id: 3 },
      { id: 12, client_id: 2 },
      { id: 21, client_id: 2 },
    ]);
  });

  it('of a patient are replaced when the patient is written and left alone when not, without touching a client’s', async () => {
    await seed();
    const valuesBefore = await valuesOf();
    expect(
      (await landPatients([patient(1, T1, { clientId: 1 })], [value('patient', 105, 1, 52, '7')])).written,
    ).toEqual([]);
    expect(await valuesOf()).toEqual(valuesBefore);
    await landPatients([patient(1, T2, { clientId: 1 })], [value('patient', 105, 1, 52, '7')]);
    expect((await valuesOf()).map(({ xmin: _x, ...v }) => v)).toEqual([
      { object_type: 'client', id: 101, object_id: 1, field_id: 41, value: 'gold' },
      { object_type: 'client', id: 102, object_id: 1, field_id: 42, value: '42' },
      { object_type: 'client', id: 201, object_id: 2, field_id: 41, value: 'silver' },
      { object_type: 'patient', id: 105, object_id: 1, field_id: 52, value: '7' },
    ]);
    const after = await valuesOf();
    for (const id of [101, 102, 201]) {
      const find = (rows: Record<string, unknown>[]) => rows.find((v) => v.object_type === 'client' && v.id === id);
      expect(find(after)).toEqual(find(valuesBefore));
    }
  });
});
