// Every kind of bad record the API could send, all on one page: each is stored safely or lands in
// sync_rejects with its raw payload; the rest of the page lands; nothing crashes.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 60, seed: 51 }, pageSize: 100 });
});
afterAll(async () => h?.close());

it('stores what can be stored, rejects the rest with its payload, and lands the page', async () => {
  expect((await h.sync()).status).toBe('succeeded');
  const clients = h.sim.exportState().clients;
  const base = (i: number) => ({ ...clients[i]! });
  const stamp = () => h.sim.now().toISOString();
  const cases: { id: number; raw: Record<string, unknown>; expect: 'stored' | 'rejected'; check?: RegExp }[] = [];
  const add = (i: number, patch: Record<string, unknown>, outcome: 'stored' | 'rejected', check?: RegExp) => {
    const raw = { ...base(i), ...patch, modified: patch.modified ?? stamp() };
    cases.push({ id: Number(clients[i]!.id), raw, expect: outcome, ...(check ? { check } : {}) });
  };
  add(1, { firstname: 12345, no_sms: 'True', customer_type: '2' }, 'stored'); // wrong but convertible types
  add(2, { lastname: 'Nul\u0000Byte', remarks: 'lone \uD800 surrogate' }, 'stored'); // text PostgreSQL cannot hold as is
  add(3, { brand_new_field: { nested: [1, 2, 3] }, another: null }, 'stored'); // unknown new fields
  add(4, { lastname: "Robert'); DROP TABLE clients;--", email: '<script>alert(1)</script>' }, 'stored'); // hostile text
  add(5, { firstname: 'x'.repeat(200_000) }, 'rejected', /firstname/); // a typed value over its cap
  add(13, { remarks: 'z'.repeat(200_000) }, 'stored'); // a large value in a field kept only in raw
  add(6, { critical_notes: 'y'.repeat(2 * 1024 * 1024) }, 'rejected', /over the 1048576-byte limit/); // an oversized record
  add(7, { modified: 'not a date' }, 'rejected', /modified/);
  add(8, { archived: { yes: true } }, 'rejected', /archived/);
  add(9, { customer_type: 1e300 }, 'rejected', /customer_type/);
  add(10, { fields_rel: [{ label: 'no ids' }] }, 'rejected', /fields_rel/);
  add(11, { phone_numbers: 'not a list' }, 'rejected', /phone_numbers/);
  for (const c of cases) {
    h.sim.touchRecords('client', [c.id], h.sim.now());
    h.sim.setRecordRaw('client', c.id, c.raw);
  }
  // A record with no usable id at all, in the same page.
  const noId = { ...base(12) } as Record<string, unknown>;
  delete noId.id;
  h.sim.touchRecords('client', [Number(clients[12]!.id)], h.sim.now());
  h.sim.setRecordRaw('client', Number(clients[12]!.id), { ...noId, modified: stamp() });
  // And a normal change that must land despite its neighbours.
  const goodId = Number(clients[20]!.id);
  h.sim.updateClient(goodId, { lastname: 'Landed with hostile neighbours' });

  const outcome = await h.sync();
  expect(outcome.status).toBe('partial');
  if (outcome.status !== 'partial') return;
  expect(outcome.streams.clients?.pages).toBe(1);

  const rejects = await h.db.pool.query<{ record_id: string | null; reason: string; payload: string }>(
    `SELECT record_id, reason, payload FROM sync_rejects WHERE run_id = $1 AND stream = 'clients'`,
    [outcome.runId],
  );
  const byId = new Map(rejects.rows.map((r) => [r.record_id, r]));
  for (const c of cases) {
    const rejected = byId.get(String(c.id));
    if (c.expect === 'rejected') {
      expect(rejected, `client ${c.id} should be rejected`).toBeDefined();
      expect(rejected!.reason).toMatch(c.check!);
      expect(rejected!.payload.length).toBeGreaterThan(100);
    } else {
      expect(rejected, `client ${c.id} should be stored: ${rejected?.reason ?? ''}`).toBeUndefined();
    }
  }
  expect(rejects.rows.some((r) => r.record_id === null && /id/.test(r.reason))).toBe(true);

  const stored = await h.db.pool.query(
    `SELECT id, firstname, lastname, no_sms, customer_type, email, raw FROM clients WHERE id = ANY($1) ORDER BY id`,
    [[1, 2, 3, 4].map((i) => Number(clients[i]!.id))],
  );
  expect(stored.rows[0]).toMatchObject({ firstname: '12345', no_sms: true, customer_type: 2 });
  expect(stored.rows[1].lastname).toBe('Nul\uFFFDByte');
  expect(stored.rows[2].raw.brand_new_field).toEqual({ nested: [1, 2, 3] });
  expect(stored.rows[3]).toMatchObject({
    lastname: "Robert'); DROP TABLE clients;--",
    email: '<script>alert(1)</script>',
  });
  const good = await h.db.pool.query('SELECT lastname FROM clients WHERE id = $1', [goodId]);
  expect(good.rows[0].lastname).toBe('Landed with hostile neighbours');
  // The mirror's tables are all still there.
  const tables = await h.db.pool.query(
    `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'provet'`,
  );
  expect(tables.rows[0].n).toBeGreaterThanOrEqual(12);
});
