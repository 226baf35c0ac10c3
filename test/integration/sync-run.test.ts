// The four-step run end to end, over HTTP against the simulator and into a real PostgreSQL.
// One simulated clinic per file; each test changes it the way a clinic would and checks that
// the mirror follows, field by field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorDifferences } from '../support/compare.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

/** Row versions (xmin) of every mirrored row: unchanged versions prove that nothing was written. */
async function rowVersions(): Promise<Map<string, string>> {
  const result = await h.db.pool.query<{ key: string; v: string }>(`
    SELECT 'c' || id AS key, xmin::text AS v FROM clients UNION ALL
    SELECT 'p' || id, xmin::text FROM patients UNION ALL
    SELECT 'n' || id, xmin::text FROM phone_numbers UNION ALL
    SELECT 'v' || object_type || id, xmin::text FROM custom_field_values UNION ALL
    SELECT 'f' || id, xmin::text FROM custom_fields UNION ALL
    SELECT 's' || id, xmin::text FROM species UNION ALL
    SELECT 'b' || id, xmin::text FROM breeds`);
  return new Map(result.rows.map((r) => [r.key, r.v]));
}

async function expectMirrorEqualsSource(): Promise<void> {
  expect(await mirrorDifferences(h.db.pool, h.sim.exportState())).toEqual([]);
}

function requestsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; requests: Record<string, number> }> {
  h.sim.resetRequestCounts();
  return fn().then((result) => ({ result, requests: h.sim.requestCounts() }));
}

const ids = (records: Record<string, unknown>[]) => records.map((r) => Number(r.id));

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 300, seed: 3 } });
});
afterAll(async () => h?.close());

describe('a first run', () => {
  it('loads everything, and the mirror equals the source field by field', async () => {
    const outcome = await h.sync();
    expectLanded(outcome);
    expect(outcome.kind).toBe('full');
    expect(outcome.status).toBe('succeeded');
    const state = h.sim.exportState();
    expect(outcome.streams.clients?.written).toBe(state.clients.length);
    expect(outcome.streams.patients?.written).toBe(state.patients.length);
    expect(state.clients.length).toBeGreaterThan(250);
    await expectMirrorEqualsSource();
    const watermarks = await h.db.pool.query<{ stream: string; watermark: string }>(
      'SELECT stream, watermark FROM sync_state ORDER BY stream',
    );
    expect(watermarks.rows.map((r) => r.stream)).toEqual(['breeds', 'clients', 'custom_fields', 'patients', 'species']);
  });
});

describe('an incremental run', () => {
  it('with no change writes nothing and makes one list request per stream', async () => {
    const before = await rowVersions();
    const { result, requests } = await requestsDuring(() => h.sync());
    expectLanded(result);
    expect(result.kind).toBe('incremental');
    expect(Object.values(result.streams).reduce((n, s) => n + s.written, 0)).toBe(0);
    expect(await rowVersions()).toEqual(before);
    expect(requests).toEqual({
      'GET client/': 1,
      'GET patient/': 1,
      'GET custom_fields/': 1,
      'GET codelist/species/': 1,
      'GET codelist/breeds/': 1,
    });
  });

  it('fetches only what changed, and converges', async () => {
    const state = h.sim.exportState();
    const clients = ids(state.clients.filter((c) => c.archived === false)).slice(0, 3);
    h.sim.updateClient(clients[0]!, { firstname: 'Renamed' });
    h.sim.updateClient(clients[1]!, { no_sms: true, email: 'changed@example.com' });
    h.sim.updateClient(clients[2]!, { city: '' });
    const before = await rowVersions();
    const outcome = await h.sync();
    expectLanded(outcome);
    expect(outcome.streams.clients).toMatchObject({ fetched: 3, written: 3 });
    expect(outcome.streams.patients).toMatchObject({ fetched: 0, written: 0 });
    const after = await rowVersions();
    const rewritten = [...after].filter(([key, v]) => before.get(key) !== v).map(([key]) => key);
    expect(rewritten.filter((k) => k.startsWith('c')).sort()).toEqual(clients.map((id) => `c${id}`).sort());
    await expectMirrorEqualsSource();
  });

  it('catches a patient changed while its client did not', async () => {
    const patient = h.sim.exportState().patients.find((p) => p.archived === false)!;
    h.sim.updatePatient(Number(patient.id), { weight: '41.25', microchip: '900123456789012' });
    const outcome = await h.sync();
    expectLanded(outcome);
    // The lookback window re-reads the clients changed by the previous test, but writes none.
    expect(outcome.streams.clients?.written).toBe(0);
    expect(outcome.streams.patients).toMatchObject({ fetched: 1, written: 1 });
    const row = await h.db.pool.query('SELECT weight, microchip FROM patients WHERE id = $1', [patient.id]);
    expect(row.rows[0]).toEqual({ weight: '41.25', microchip: '900123456789012' });
    await expectMirrorEqualsSource();
  });

  it('follows a deceased date set, then cleared', async () => {
    const patient = h.sim.exportState().patients.find((p) => p.deceased === null && p.archived === false)!;
    const id = Number(patient.id);
    h.sim.updatePatient(id, { deceased: '2024-03-20' });
    expectLanded(await h.sync());
    expect((await h.db.pool.query('SELECT deceased FROM patients WHERE id = $1', [id])).rows[0]).toEqual({
      deceased: '2024-03-20',
    });
    h.sim.updatePatient(id, { deceased: null });
    expectLanded(await h.sync());
    expect((await h.db.pool.query('SELECT deceased FROM patients WHERE id = $1', [id])).rows[0]).toEqual({
      deceased: null,
    });
    await expectMirrorEqualsSource();
  });

  it('removes a custom field value removed in Provet', async () => {
    const state = h.sim.exportState();
    const patient = state.patients.find((p) => Array.isArray(p.fields_rel) && p.fields_rel.length > 0)!;
    const entry = (patient.fields_rel as { field_id: number }[])[0]!;
    const count = async () =>
      Number(
        (
          await h.db.pool.query(
            `SELECT count(*) FROM custom_field_values WHERE object_type = 'patient' AND object_id = $1 AND field_id = $2`,
            [patient.id, entry.field_id],
          )
        ).rows[0].count,
      );
    expect(await count()).toBe(1);
    // As a clinic would: PATCH the record with fields_rel lacking that value (moves modified).
    h.sim.updatePatient(Number(patient.id), {
      fields_rel: (patient.fields_rel as { field_id: number; value: unknown }[])
        .filter((f) => f.field_id !== entry.field_id)
        .map((f) => ({ field_id: f.field_id, value: f.value })),
    });
    expectLanded(await h.sync());
    expect(await count()).toBe(0);
    await expectMirrorEqualsSource();
  });

  it('follows archive and unarchive, including patients whose modified did not move', async () => {
    const state = h.sim.exportState();
    const owner = state.clients.find(
      (c) =>
        c.archived === false && state.patients.filter((p) => p.client === c.url && p.archived === false).length >= 2,
    )!;
    const patientsOf = state.patients.filter((p) => p.client === owner.url).map((p) => Number(p.id));
    h.sim.updateClient(Number(owner.id), { archived: true });
    const cascaded = h.sim.exportState().patients.filter((p) => patientsOf.includes(Number(p.id)));
    // The simulator's hardest setting: the cascade leaves the patients' modified where it was.
    expect(cascaded.every((p) => p.archived === true)).toBe(true);
    expect(cascaded.map((p) => p.modified)).toEqual(
      state.patients.filter((p) => patientsOf.includes(Number(p.id))).map((p) => p.modified),
    );

    const archivedRun = await h.sync();
    expectLanded(archivedRun);
    const rows = await h.db.pool.query('SELECT id, archived, archived_seen_at FROM patients WHERE client_id = $1', [
      owner.id,
    ]);
    expect(rows.rows.length).toBe(patientsOf.length);
    expect(rows.rows.every((r) => r.archived === true && r.archived_seen_at !== null)).toBe(true);
    expect((await h.db.pool.query('SELECT count(*)::int AS n FROM patient_rereads')).rows[0].n).toBe(0);
    await expectMirrorEqualsSource();

    h.sim.updateClient(Number(owner.id), { archived: false });
    expectLanded(await h.sync());
    const client = await h.db.pool.query('SELECT archived, archived_seen_at FROM clients WHERE id = $1', [owner.id]);
    expect(client.rows[0]).toEqual({ archived: false, archived_seen_at: null });
    await expectMirrorEqualsSource();
  });

  it('mirrors new clients, patients and phone numbers', async () => {
    const created = h.sim.createClient({
      firstname: 'New',
      lastname: 'Owner',
      email: 'new@example.com',
      country: 'GB',
      customer_type: 0,
    });
    const pet = h.sim.createPatient({
      client: created.url,
      name: 'Max',
      species: 15461002,
      gender: 'Male',
      date_of_birth: '2020-06-15',
    });
    h.sim.addPhoneNumber(Number(created.id), { phone_number: '+441234567890', type_code: 1 });
    expectLanded(await h.sync());
    const row = await h.db.pool.query(
      'SELECT p.name, c.lastname, n.phone_number, n.type_code FROM patients p JOIN clients c ON c.id = p.client_id JOIN phone_numbers n ON n.client_id = c.id WHERE p.id = $1',
      [pet.id],
    );
    expect(row.rows).toEqual([{ name: 'Max', lastname: 'Owner', phone_number: '+441234567890', type_code: 1 }]);
    await expectMirrorEqualsSource();
  });

  it('follows a phone number that moved to another client, when only that client is read again', async () => {
    const state = h.sim.exportState();
    const ownerOf = (phone: Record<string, unknown>) => Number(String(phone.client).match(/(\d+)\/?$/)?.[1]);
    // Clients no earlier test touched (the oldest), so that the sync reads only the one changed here.
    const oldest = state.clients
      .filter((c) => c.archived === false)
      .sort((a, b) => Date.parse(String(a.modified)) - Date.parse(String(b.modified)));
    const phone = state.phoneNumbers.find(
      (p) => ownerOf(p) === Number(oldest.find((c) => state.phoneNumbers.some((q) => ownerOf(q) === Number(c.id)))?.id),
    )!;
    const from = ownerOf(phone);
    const to = Number(oldest.find((c) => Number(c.id) !== from)!.id);
    h.sim.updatePhoneNumber(Number(phone.id), { client: to });
    // Only the new owner changes: the old owner is not read again, so its rows are not replaced
    // and the number's id is still in the mirror, under the old owner, when the new owner's page lands.
    h.sim.updateClient(to, { firstname: 'Moved' });
    const outcome = await h.sync();
    expectLanded(outcome);
    expect(outcome.streams.clients).toMatchObject({ written: 1, rejected: 0 });
    const row = await h.db.pool.query('SELECT client_id FROM phone_numbers WHERE id = $1', [phone.id]);
    expect(row.rows).toEqual([{ client_id: String(to) }]);
    // The old owner's raw record still lists the number until it changes too; then all agree.
    h.sim.updateClient(from, { firstname: 'Left' });
    expectLanded(await h.sync());
    await expectMirrorEqualsSource();
  });

  it('does not lose records when the API clock is ahead of or behind the machine clock', async () => {
    const living = h.sim.exportState().patients.filter((p) => p.archived === false && p.deceased === null);
    for (const [i, skewMs] of [10 * 60_000, -10 * 60_000].entries()) {
      h.sim.setClockOffset(skewMs);
      // A different patient each time: stepping the API's clock back under one record is a fault case of its own.
      const patient = living[10 + i]!;
      h.sim.updatePatient(Number(patient.id), { name: `Skewed ${skewMs}` });
      const outcome = await h.sync();
      expectLanded(outcome);
      expect(outcome.streams.patients?.written, JSON.stringify(outcome.streams)).toBe(1);
      await expectMirrorEqualsSource();
      // The watermark is Provet's time, not this machine's.
      const wm = await h.db.pool.query<{ drift: number }>(
        `SELECT extract(epoch FROM watermark - now())::float8 AS drift FROM sync_state WHERE stream = 'patients'`,
      );
      expect(Math.abs(wm.rows[0]!.drift - skewMs / 1000)).toBeLessThan(30);
    }
    // Back to the machine's clock: a change made "earlier" than the last watermark by the API's
    // clock is still inside the lookback window, so it is not lost.
    h.sim.setClockOffset(0);
    const patient = living[12]!;
    h.sim.updatePatient(Number(patient.id), { name: 'Back in time' });
    const outcome = await h.sync({ lookbackSeconds: 15 * 60 });
    expectLanded(outcome);
    await expectMirrorEqualsSource();
  });
});
