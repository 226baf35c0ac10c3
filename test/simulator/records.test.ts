import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { all, connect, idOf, list, token, type Caller, type Row } from './helpers.js';

let sim: Simulator;
let call: Caller;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 300, seed: 21, utcOffset: '-04:00' }));
});
afterAll(() => sim.close());

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?-04:00$/;

describe('record shapes', () => {
  it('clients carry the fields seen on the real list response, in that order', async () => {
    const page = await list(call, 'client/?page_size=1');
    expect(Object.keys(page.results[0]!)).toEqual([
      'id',
      'url',
      'title',
      'firstname',
      'lastname',
      'organization_name',
      'customer_type',
      'vat_number',
      'register_number',
      'id_number',
      'home_department',
      'street_address',
      'street_address_2',
      'street_address_3',
      'zip_code',
      'city',
      'state',
      'country',
      'email',
      'alt_emails',
      'critical_notes',
      'remarks',
      'archived',
      'no_sms',
      'no_email',
      'external',
      'imported',
      'patients',
      'invoicing_client',
      'tags_rel',
      'phone_numbers',
      'fields_rel',
      'status_type',
      'created',
      'created_user',
      'modified',
      'modified_user',
    ]);
  });

  it('patients carry the guide’s example fields plus the extras', async () => {
    const page = await list(call, 'patient/?page_size=1');
    expect(Object.keys(page.results[0]!).sort()).toEqual(
      [
        'id',
        'url',
        'client',
        'name',
        'official_name',
        'species',
        'breed',
        'gender',
        'weight',
        'date_of_birth',
        'deceased',
        'microchip',
        'archived',
        'home_department',
        'created',
        'modified',
        'tags_rel',
        'fields_rel',
        'date_of_registration',
        'remarks',
        'insurance',
        'insurance_company',
        'old_patient_id',
        'reason_of_death',
        'color',
        'passport_number',
        'critical_notes',
        'breed_code',
        'species_code',
      ].sort(),
    );
  });

  it('uses absolute URLs for foreign keys, the installation offset with microseconds, and both "" and null', () => {
    const { clients, patients, phoneNumbers } = sim.exportState();
    for (const c of clients) {
      expect(c.url).toBe(`${sim.baseUrl}client/${String(c.id)}/`);
      expect(c.created).toMatch(TIMESTAMP);
      expect(c.modified).toMatch(TIMESTAMP);
      for (const p of c.patients as string[]) expect(p).toMatch(new RegExp(`^${sim.baseUrl}patient/\\d+/$`));
    }
    for (const p of patients) expect(p.client).toMatch(new RegExp(`^${sim.baseUrl}client/\\d+/$`));
    for (const n of phoneNumbers)
      expect(Object.keys(n)).toEqual([
        'id',
        'client',
        'phone_number',
        'type_code',
        'description',
        'is_secondary_owners_phone_number',
      ]);
    const emptyKinds = new Set(
      clients
        .flatMap((c) => [c.state, c.street_address_3])
        .filter((v) => v === '' || v === null)
        .map((v) => String(v)),
    );
    expect(emptyKinds).toEqual(new Set(['', 'null']));
    // Most stamps have microseconds; whole-second ones (bulk imports) have none, as Python prints them.
    expect(clients.some((c) => /\.\d{6}-04:00$/.test(String(c.modified)))).toBe(true);
    expect(clients.some((c) => /:\d{2}-04:00$/.test(String(c.modified)))).toBe(true);
  });

  it('renders species as a display name with species_code, and "None" for a missing breed', () => {
    const { patients, species } = sim.exportState();
    const names = new Map(species.map((s) => [s.id, s.name]));
    for (const p of patients) expect(p.species).toBe(names.get(p.species_code));
    expect(patients.some((p) => p.breed === 'None' && p.breed_code === null)).toBe(true);
    expect(patients.some((p) => typeof p.weight === 'string' && /^\d+\.\d{2}$/.test(p.weight))).toBe(true);
    expect(patients.some((p) => p.weight === null)).toBe(true);
    expect(patients.some((p) => typeof p.deceased === 'string')).toBe(true);
  });

  it('exports every record ordered by id, exactly as the API renders it', async () => {
    const state = sim.exportState();
    for (const rows of [state.clients, state.patients, state.phoneNumbers]) {
      const order = rows.map((r) => Number(r.id));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(await all(call, 'client/?page_size=1000')).toEqual(state.clients);
    expect(await all(call, 'patient/?page_size=1000')).toEqual(state.patients);
  });

  it('nests a phone_numbers copy with its own field names, consistent with phonenumber/', async () => {
    const client = sim.exportState().clients.find((c) => (c.phone_numbers as unknown[]).length > 0) as Row;
    const nested = client.phone_numbers as Row[];
    expect(Object.keys(nested[0]!)).toEqual([
      'id',
      'number',
      'type',
      'description',
      'is_secondary_owners_phone_number',
    ]);
    const records = await all(call, `phonenumber/?client__is=${client.id}`);
    expect(records.map((r) => [r.id, r.phone_number, r.type_code === 1 ? 'mobile' : 'landline'])).toEqual(
      nested.map((n) => [n.id, n.number, n.type]),
    );
  });

  it('embeds fields_rel on a share of records, select values as option lists', () => {
    const { clients, patients, customFields } = sim.exportState();
    const withValues = clients.filter((c) => (c.fields_rel as unknown[]).length > 0).length / clients.length;
    expect(withValues).toBeGreaterThan(0.2);
    expect(withValues).toBeLessThan(0.4);
    const select = customFields.find((f) => f.type === 'select')!;
    expect((select.options as unknown[]).length).toBeGreaterThan(1);
    const value = clients.flatMap((c) => c.fields_rel as Row[]).find((v) => v.field_id === select.id)!;
    expect(value.value).toEqual([
      expect.objectContaining({ id: expect.any(Number) as number, name: expect.any(String) as string }),
    ]);
    expect(patients.flatMap((p) => p.fields_rel as Row[]).some((v) => v.value === 'True' || v.value === 'False')).toBe(
      true,
    );
    expect(Object.keys(customFields[0]!)).toEqual(expect.arrayContaining(['id', 'label', 'type', 'model']));
  });

  it('archived seeded clients have only archived patients; breeds carry their species', () => {
    const { clients, patients, breeds, species } = sim.exportState();
    const archivedClients = new Set(clients.filter((c) => c.archived === true).map((c) => c.id));
    expect(archivedClients.size).toBeGreaterThan(0);
    for (const p of patients) if (archivedClients.has(idOf(p.client))) expect(p.archived).toBe(true);
    const codes = new Set(species.map((s) => s.id));
    for (const b of breeds) expect(codes.has(b.species)).toBe(true);
  });
});

describe('clock and determinism', () => {
  it('sends a Date header from the simulator clock on every answer, offset included', async () => {
    const ok = await call('GET', 'client/?page_size=1');
    expect(Math.abs(Date.parse(ok.headers.get('date')!) - Date.now())).toBeLessThan(2000);
    sim.setClockOffset(-5 * 3600_000);
    try {
      for (const answer of [
        await call('GET', 'client/'),
        await call('GET', 'nope/'),
        await fetch(`${sim.baseUrl}client/`),
      ]) {
        expect(Math.abs(Date.parse(answer.headers.get('date')!) - (Date.now() - 5 * 3600_000))).toBeLessThan(2000);
      }
      expect(Math.abs(sim.now().getTime() - (Date.now() - 5 * 3600_000))).toBeLessThan(50);
      // Writes are stamped by the same clock.
      const created = sim.createClient({ lastname: 'Skewed' });
      expect(Math.abs(Date.parse(String(created.modified)) - (Date.now() - 5 * 3600_000))).toBeLessThan(2000);
    } finally {
      sim.setClockOffset(0);
    }
  });

  it('renders the same seed to the same bytes (apart from the port in URLs), and another seed differently', async () => {
    const bodies: string[] = [];
    for (const seed of [99, 99, 100]) {
      const other = await startSimulator({ clients: 200, seed });
      try {
        const res = await fetch(`${other.baseUrl}patient/?page_size=1000`, {
          headers: { Authorization: `Bearer ${await token(other)}` },
        });
        bodies.push((await res.text()).replaceAll(other.baseUrl, 'BASE/'));
      } finally {
        await other.close();
      }
    }
    expect(bodies[0]!.length).toBeGreaterThan(10_000);
    expect(bodies[1]).toBe(bodies[0]);
    expect(bodies[2]).not.toBe(bodies[0]);
  });

  it('renders UTC installations with Z, as DRF does', async () => {
    const utc = await startSimulator({ clients: 3, utcOffset: '+00:00' });
    try {
      expect(utc.exportState().clients[0]!.modified).toMatch(/Z$/);
    } finally {
      await utc.close();
    }
  });
});

describe('test helpers on the simulator', () => {
  it('touchRecords gives several records one shared modified, to the microsecond', async () => {
    sim.touchRecords('client', [3, 4, 5], '2025-10-01T12:00:00.123456-04:00');
    const rows = await all(call, 'client/?modified__is=2025-10-01T12:00:00.123456-04:00');
    expect(rows.map((r) => r.id)).toEqual([3, 4, 5]);
    expect(rows.every((r) => r.modified === '2025-10-01T12:00:00.123456-04:00')).toBe(true);
  });

  it('setRecordRaw replaces a record’s JSON verbatim until the next write to it', async () => {
    const hostile = { id: 7, firstname: 12345, lastname: 'x'.repeat(100_000), modified: 'not a date', archived: 'yes' };
    sim.setRecordRaw('client', 7, hostile);
    expect((await call('GET', 'client/7/')).body).toEqual(hostile);
    const page = await list(call, 'client/?id__in=[6,7,8]');
    expect(page.results[1]).toEqual(hostile);
    const written = sim.updateClient(7, { remarks: 'back to normal' });
    expect(written.firstname).not.toBe(12345);
    expect((await call<Row>('GET', 'client/7/')).body.remarks).toBe('back to normal');
  });
});
