// The simulator keeps rendered list records until its store changes (api.ts, RenderedRecords).
// A cached record must never be staler than a fresh render: every kind of change shows on the
// next read, including those that leave the record's own modified alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { all, connect, type Caller, type Row } from './helpers.js';

let cached: { sim: Simulator; call: Caller };
let uncached: { sim: Simulator; call: Caller };

beforeAll(async () => {
  cached = await connect({ clients: 60, seed: 33 });
  uncached = await connect({ clients: 60, seed: 33, renderCacheBytes: 0 });
});
afterAll(async () => {
  await cached.sim.close();
  await uncached.sim.close();
});

/** Every client and patient as the list endpoints render them, with the origin taken out. */
async function listed(target: { sim: Simulator; call: Caller }): Promise<{ clients: Row[]; patients: Row[] }> {
  const strip = (rows: Row[]) => JSON.parse(JSON.stringify(rows).replaceAll(target.sim.baseUrl, '/')) as Row[];
  return {
    clients: strip(await all(target.call, 'client/?page_size=25')),
    patients: strip(await all(target.call, 'patient/?page_size=25')),
  };
}

describe('rendered-record cache', () => {
  it('serves the same pages as a simulator that renders every time, before and after changes', async () => {
    expect(await listed(cached)).toEqual(await listed(uncached));
    // Read twice so that the second read is served from the cache.
    expect(await listed(cached)).toEqual(await listed(uncached));
  });

  it('shows each kind of change on the next read, even when the record’s modified stays', async () => {
    const { sim, call } = cached;
    const before = await listed(cached);
    const client = before.clients.find((c) => !c.archived)!;
    const url = `${sim.baseUrl}client/${client.id}/`;

    // A new patient and a new phone number change the client's rendering, not its modified.
    const patient = await call<Row>('POST', 'patient/', {
      client: url,
      name: 'Cached',
      species: 15461002,
      gender: 'Male',
    });
    expect(patient.status).toBe(201);
    const phone = await call<Row>('POST', 'phonenumber/', { client: url, phone_number: '+358401234567', type_code: 1 });
    expect(phone.status).toBe(201);
    let after = (await listed(cached)).clients.find((c) => c.id === client.id)!;
    expect(after.modified).toBe(client.modified);
    expect(after.patients).toContain(`/patient/${patient.body.id}/`);
    expect((after.phone_numbers as Row[]).map((p) => p.id)).toContain(phone.body.id);

    // A PATCH changes fields and modified.
    expect((await call('PATCH', `client/${client.id}/`, { remarks: 'changed after caching' })).status).toBe(200);
    after = (await listed(cached)).clients.find((c) => c.id === client.id)!;
    expect(after.remarks).toBe('changed after caching');
    expect(after.modified).not.toBe(client.modified);

    // Archiving cascades to the client's patients.
    expect((await call('PATCH', `client/${client.id}/`, { archived: true })).status).toBe(200);
    const archived = await listed(cached);
    expect(archived.clients.find((c) => c.id === client.id)!.archived).toBe(true);
    expect(archived.patients.find((p) => p.id === patient.body.id)!.archived).toBe(true);
  });

  it('keeps a copy of a raw replacement: changing the caller’s object afterwards changes nothing', async () => {
    const { sim } = cached;
    const target = (await listed(cached)).clients.at(-1)!;
    const raw = { ...target, lastname: 'Set raw' };
    sim.setRecordRaw('client', target.id, raw);
    raw.lastname = 'Changed afterwards';
    expect((await listed(cached)).clients.find((c) => c.id === target.id)!.lastname).toBe('Set raw');
    // Read again, from the cache this time.
    expect((await listed(cached)).clients.find((c) => c.id === target.id)!.lastname).toBe('Set raw');
  });

  it('past its cap renders every time and still answers correctly', async () => {
    const small = await connect({ clients: 30, seed: 5, renderCacheBytes: 2_000 });
    try {
      const first = await all(small.call, 'client/?page_size=10');
      const target = first.at(-1)!;
      expect((await small.call('PATCH', `client/${target.id}/`, { remarks: 'past the cap' })).status).toBe(200);
      const second = await all(small.call, 'client/?page_size=10');
      expect(second.find((c) => c.id === target.id)!.remarks).toBe('past the cap');
      expect(second.map((c) => c.id)).toEqual(first.map((c) => c.id));
    } finally {
      await small.sim.close();
    }
  });
});
