// The daemon's HTTP side, against the real process: health, readiness going false and back,
// metrics that move after a run, and webhooks (secret, size cap, a hint that brings one record).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, sample, startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const SECRET = 'wh-test-secret-0123456789abcdef';
let sim: Simulator;
let testDb: TestDatabase;
let daemon: DaemonProcess;
let db: pg.Pool;

const get = (path: string) => fetch(`${daemon.url}${path}`);
const readyz = async () => {
  const res = await get('/readyz');
  return {
    status: res.status,
    body: (await res.json()) as { ready: boolean; checks: { name: string; ok: boolean }[] },
  };
};
const metrics = async () => (await get('/metrics')).text();
const post = (path: string, body: string, contentType = 'application/x-www-form-urlencoded') =>
  fetch(`${daemon.url}${path}`, { method: 'POST', body, headers: { 'content-type': contentType } });

beforeAll(async () => {
  sim = await startSimulator({ clients: 80, seed: 21 });
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, options: '-c search_path=provet', max: 2 });
  db.on('error', () => {});
  daemon = await startDaemon({
    PROVET_BASE_URL: sim.baseUrl,
    PROVET_CLIENT_ID: sim.clientId,
    PROVET_CLIENT_SECRET: sim.clientSecret,
    DATABASE_URL: testDb.url,
    DATABASE_CONNECT_DEADLINE_SECONDS: '5',
    // Only the run at start: whatever lands later came through a webhook.
    SYNC_SCHEDULE: '0 0 1 1 *',
    RECONCILE_SCHEDULE: 'off',
    READY_MAX_RUN_AGE_SECONDS: '600',
    READY_MAX_RUNNING_SECONDS: '60',
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_MAX_BODY_BYTES: '256',
    WEBHOOK_DEBOUNCE_SECONDS: '0.2',
  });
  await eventually(async () => (await readyz()).status === 200, 30_000, 'the first run to land');
});

afterAll(async () => {
  const code = await daemon?.stop();
  await db?.end();
  await testDb?.drop();
  await sim?.close();
  expect(code).toBe(0);
});

describe('daemon HTTP server', () => {
  it('/healthz answers while the process lives; unknown paths are 404', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
    expect((await get('/nope')).status).toBe(404);
    expect((await fetch(`${daemon.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('/readyz goes false for a stale last run and a stuck run, and back', async () => {
    expect((await readyz()).body.ready).toBe(true);
    const last = await db.query<{ id: string; finished_at: string }>(
      `SELECT id, finished_at FROM sync_runs WHERE kind IN ('full','incremental') ORDER BY id DESC LIMIT 1`,
    );
    const { id, finished_at } = last.rows[0]!;
    await db.query(`UPDATE sync_runs SET finished_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    const stale = await readyz();
    expect(stale.status).toBe(503);
    expect(stale.body.checks.find((c) => c.name === 'last_run')?.ok).toBe(false);
    await db.query(`UPDATE sync_runs SET finished_at = $2 WHERE id = $1`, [id, finished_at]);
    expect((await readyz()).status).toBe(200);

    const stuck = await db.query<{ id: string }>(
      `INSERT INTO sync_runs (kind, status, started_at) VALUES ('incremental', 'running', now() - interval '5 minutes') RETURNING id`,
    );
    const notReady = await readyz();
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.find((c) => c.name === 'not_stuck')?.ok).toBe(false);
    await db.query(`UPDATE sync_runs SET status = 'failed', finished_at = now() WHERE id = $1`, [stuck.rows[0]!.id]);
    expect((await readyz()).status).toBe(200);
  });

  it('/readyz goes false while the database refuses connections, and back', async () => {
    const admin = new pg.Client({ connectionString: testDb.url.replace(/\/[^/]*$/, '/postgres') });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${testDb.name} ALLOW_CONNECTIONS false`);
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [testDb.name],
      );
      const down = await eventually(
        async () => {
          const r = await readyz();
          return r.status === 503 ? r : null;
        },
        10_000,
        'readiness to fail',
      );
      expect(down.body.checks.find((c) => c.name === 'database')?.ok).toBe(false);
      expect((await get('/healthz')).status).toBe(200);
    } finally {
      await admin.query(`ALTER DATABASE ${testDb.name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await eventually(async () => (await readyz()).status === 200, 10_000, 'readiness to come back');
  });

  it('refuses webhooks without the secret (404), other methods, and oversized bodies (413)', async () => {
    expect((await post('/webhooks/provet/wrong-secret-0123456789abcdef', 'client_id=1')).status).toBe(404);
    expect((await post('/webhooks/provet/', 'client_id=1')).status).toBe(404);
    expect((await get(`/webhooks/provet/${SECRET}`)).status).toBe(405);
    expect((await post(`/webhooks/provet/${SECRET}`, `client_id=1&pad=${'x'.repeat(400)}`)).status).toBe(413);
    expect((await post(`/webhooks/provet/${SECRET}`, '{"client_id": "12; DROP"}', 'application/json')).status).toBe(
      400,
    );
    const ignored = await post(`/webhooks/provet/${SECRET}`, 'invoice_id=5');
    expect(ignored.status).toBe(200);
    expect(await ignored.json()).toEqual({ queued: 0 });
  });

  it('a hint brings one changed record into the mirror within seconds, and the metrics move', async () => {
    const before = await metrics();
    const client = sim.exportState().clients[7] as { id: number };
    sim.updateClient(client.id, { lastname: 'Webhooked' });
    const patient = sim.exportState().patients[3] as { id: number };
    sim.updatePatient(patient.id, { name: 'Hinted' });
    const started = Date.now();
    const res = await post(`/webhooks/provet/${SECRET}`, `client_id=${client.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ queued: 1 });
    expect(
      (await post(`/webhooks/provet/${SECRET}`, JSON.stringify({ patient_id: patient.id }), 'application/json')).status,
    ).toBe(200);
    await eventually(
      async () => {
        const r = await db.query<{ lastname: string }>('SELECT lastname FROM clients WHERE id = $1', [client.id]);
        const p = await db.query<{ name: string }>('SELECT name FROM patients WHERE id = $1', [patient.id]);
        return r.rows[0]?.lastname === 'Webhooked' && p.rows[0]?.name === 'Hinted';
      },
      10_000,
      'the hinted records to land',
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    const runs = await db.query<{ kind: string; status: string }>(
      `SELECT kind, status FROM sync_runs WHERE kind = 'webhook'`,
    );
    expect(runs.rows.length).toBeGreaterThanOrEqual(1);
    expect(runs.rows.every((r) => r.status === 'succeeded')).toBe(true);

    const after = await eventually(async () => {
      const text = await metrics();
      return sample(text, 'provet_sync_runs_total', { kind: 'webhook', status: 'succeeded' }) >= 1 ? text : null;
    });
    expect(sample(after, 'provet_sync_records_upserted_total', { stream: 'clients' })).toBeGreaterThan(
      sample(before, 'provet_sync_records_upserted_total', { stream: 'clients' }),
    );
    expect(sample(after, 'provet_sync_api_requests_total', { endpoint: 'GET client/<id>/' })).toBeGreaterThan(
      sample(before, 'provet_sync_api_requests_total', { endpoint: 'GET client/<id>/' }),
    );
    expect(
      sample(after, 'provet_sync_api_request_duration_seconds_count', { endpoint: 'GET patient/<id>/' }),
    ).toBeGreaterThan(0);
    expect(sample(after, 'provet_sync_api_requests_total', { endpoint: 'GET client/' })).toBeGreaterThan(0);
    expect(sample(after, 'provet_sync_runs_total', { kind: 'full', status: 'succeeded' })).toBe(1);
    expect(sample(after, 'provet_sync_run_duration_seconds_count', { kind: 'webhook' })).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^provet_sync_watermark_lag_seconds\{stream="clients"\} \d/m);
    expect(sample(after, 'provet_sync_webhook_hints_total', { result: 'refused' })).toBeGreaterThanOrEqual(2);
    // No record values or ids in any label.
    expect(after).not.toMatch(/Webhooked|Hinted/);
    expect(after).not.toMatch(new RegExp(`endpoint="[^"]*\\b${client.id}\\b`));
  });

  it('a hint for a record Provet no longer has marks it deleted', async () => {
    const victim = sim.exportState().clients[20] as { id: number };
    sim.deleteClient(victim.id);
    expect((await post(`/webhooks/provet/${SECRET}`, `client_id=${victim.id}`)).status).toBe(200);
    await eventually(
      async () => {
        const r = await db.query<{ deleted_at: string | null }>('SELECT deleted_at FROM clients WHERE id = $1', [
          victim.id,
        ]);
        return r.rows[0]?.deleted_at != null;
      },
      10_000,
      'deleted_at',
    );
  });
});
