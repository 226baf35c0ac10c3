import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { connect, type Caller, type Row } from './helpers.js';

let sim: Simulator;
let call: Caller;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 30, seed: 2 }));
});
afterAll(() => sim.close());

async function admin<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T; date: string | null }> {
  const res = await fetch(`${sim.adminUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T, date: res.headers.get('date') };
}

describe('admin routes', () => {
  it('list themselves and need no token', async () => {
    const index = await admin<{ routes: string[] }>('GET', '');
    expect(index.status).toBe(200);
    expect(index.body.routes.length).toBeGreaterThan(10);
    expect(index.date).not.toBeNull();
  });

  it('report and reset request counts per endpoint key', async () => {
    await admin('POST', 'requests/reset');
    await call('GET', 'client/');
    await call('GET', 'client/3/');
    await call('GET', 'client/4/');
    const counts = await admin<Record<string, number>>('GET', 'requests');
    expect(counts.body).toEqual({ 'GET client/': 1, 'GET client/<id>/': 2 });
    await admin('POST', 'requests/reset');
    expect((await admin('GET', 'requests')).body).toEqual({});
  });

  it('switch faults on and off, and reject malformed fault settings', async () => {
    expect((await admin('POST', 'faults', { scope: 'GET client/', faults: { errorRate: 1 } })).status).toBe(200);
    expect((await call('GET', 'client/')).status).toBeGreaterThanOrEqual(500);
    await admin('POST', 'faults', { scope: 'GET client/', faults: null });
    expect((await call('GET', 'client/')).status).toBe(200);
    expect((await admin('POST', 'faults', { scope: 'global', faults: { errorRat: 1 } })).status).toBe(400);
    expect((await admin('POST', 'faults', { faults: {} })).status).toBe(400);
  });

  it('move the simulator clock', async () => {
    const moved = await admin<{ now: string }>('POST', 'clock', { offsetMs: 86_400_000 });
    expect(Math.abs(Date.parse(moved.body.now) - (Date.now() + 86_400_000))).toBeLessThan(2000);
    const answer = await call('GET', 'codelist/species/');
    // A day later on the simulator clock, the token issued at the start (10 h lifetime) has expired.
    expect(answer.status).toBe(401);
    await admin('POST', 'clock', { offsetMs: 0 });
    expect(Math.abs(sim.now().getTime() - Date.now())).toBeLessThan(100);
  });

  it('create, update and hard-delete records', async () => {
    const created = await admin<Row>('POST', 'clients', { firstname: 'Admin', lastname: 'Made' });
    expect(created.status).toBe(201);
    const updated = await admin<Row>('PATCH', `clients/${created.body.id}`, { archived: true });
    expect(updated.body.archived).toBe(true);
    const patient = await admin<Row>('POST', 'patients', { client: created.body.id, name: 'Rex', species: 15461002 });
    expect(patient.status).toBe(201);
    const phone = await admin<Row>('POST', 'phonenumbers', { client: created.body.id, phone_number: '+358401234567' });
    expect(phone.body.client).toBe(`${sim.baseUrl}client/${created.body.id}/`);
    expect(
      (
        await admin('POST', 'custom_field_values', {
          objectType: 'client',
          objectId: created.body.id,
          fieldId: 42,
          value: 7,
        })
      ).status,
    ).toBe(200);
    const state = await admin<{ clients: Row[]; patients: Row[] }>('GET', 'state');
    const mine = state.body.clients.find((c) => c.id === created.body.id)!;
    expect((mine.fields_rel as Row[])[0]).toMatchObject({ field_id: 42, value: '7' });
    expect(state.body.patients.some((p) => p.id === patient.body.id)).toBe(true);

    expect((await admin('POST', `clients/${created.body.id}/delete`)).status).toBe(200);
    expect((await admin('POST', `clients/${created.body.id}/delete`)).status).toBe(404);
    expect(sim.exportState().patients.some((p) => p.id === patient.body.id)).toBe(false);
  });

  it('answer validation problems with 400 and unknown routes with 404', async () => {
    expect((await admin('POST', 'clients', { email: 'x' })).status).toBe(400);
    expect((await admin('POST', 'clients', 'not an object')).status).toBe(400);
    expect((await admin('GET', 'nothing-here')).status).toBe(404);
  });

  it('touch records and replace raw JSON', async () => {
    expect(
      (await admin('POST', 'touch', { kind: 'patient', ids: [1, 2], modified: '2025-01-01T00:00:00+02:00' })).status,
    ).toBe(200);
    expect(
      sim
        .exportState()
        .patients.filter((p) => p.modified === '2025-01-01T00:00:00+02:00')
        .map((p) => p.id),
    ).toEqual([1, 2]);
    expect((await admin('PUT', 'raw/patient/3', { id: 3, name: null })).status).toBe(200);
    expect(sim.exportState().patients.find((p) => p.id === 3)).toEqual({ id: 3, name: null });
  });
});
