// Fleet mode's webhooks: POST /webhooks/provet/<installation>/<secret> on a worker. A hint for a
// changed record lands the change long before the installation's schedule would (it has none
// due during the test); the wrong secret, an unknown installation, or one without a webhook
// secret answer 404; a burst of hints for one record costs one re-fetch of it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startCli, waitForOutput, type Running } from '../faults/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/daemon-process.js';

const LISTENING = /"port":(\d+)[^\n]*"msg":"HTTP server listening"/;
const WEBHOOK_SECRET = 'fleet-webhook-secret-0123456789abcdef';
let sim: Simulator;
let testDb: TestDatabase;
let db: pg.Pool;
let worker: Running;
let url: string;

beforeAll(async () => {
  sim = await startSimulator({ clients: 40, seed: 21, provetId: '321' });
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, options: '-c search_path=hooked', max: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'provet-sync-fleet-webhooks-'));
  writeFileSync(join(dir, 'client.secret'), sim.clientSecret);
  writeFileSync(join(dir, 'webhook.secret'), WEBHOOK_SECRET);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    DATABASE_URL: testDb.url,
    PROVET_CONTROL_SCHEMA: 'hooks_ctl',
  };
  const add = (name: string, schema: string, ...extra: string[]) =>
    startCli(
      [
        'installations',
        'add',
        name,
        '--base-url',
        sim.baseUrl,
        '--client-id',
        sim.clientId,
        '--client-secret-file',
        join(dir, 'client.secret'),
        '--schema',
        schema,
        '--schedule',
        '0 0 1 1 *', // the first sync at once, then not before New Year
        '--reconcile-schedule',
        'off',
        ...extra,
      ],
      env,
    ).exited;
  expect((await add('hooked', 'hooked', '--webhook-secret-file', join(dir, 'webhook.secret'))).code).toBe(0);
  expect((await add('plain', 'plain')).code).toBe(0);
  worker = startCli(['worker'], {
    ...env,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    WORKER_TICK_SECONDS: '0.5',
    WEBHOOK_DEBOUNCE_SECONDS: '0.3',
  });
  await waitForOutput(worker, LISTENING, 30_000);
  url = `http://127.0.0.1:${LISTENING.exec(worker.output())![1]}`;
  // Both installations read the same simulator: each one's first sync lands before the test counts requests.
  for (const schema of ['hooked', 'plain'])
    await eventually(
      async () =>
        (await db.query(`SELECT 1 FROM ${schema}.sync_runs WHERE status = 'succeeded'`).catch(() => ({ rowCount: 0 })))
          .rowCount,
      30_000,
      `the first sync of ${schema}`,
    );
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) worker.child.kill('SIGTERM');
  const exit = await worker?.exited;
  await db?.end();
  await testDb?.drop();
  await sim?.close();
  expect(exit?.code, exit?.stderr).toBe(0);
});

const hint = (path: string, body: string) =>
  fetch(`${url}/webhooks/provet/${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

describe('fleet webhooks', () => {
  it('a hint lands the change at once, and a burst for one record costs one re-fetch', async () => {
    const id = Number(sim.exportState().clients[3]!.id);
    sim.updateClient(id, { city: 'Hämeenlinna' });
    sim.resetRequestCounts();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => hint(`hooked/${WEBHOOK_SECRET}`, `client_id=${id}`)),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(await a.json()).toEqual({ queued: 1 });
    }
    await eventually(
      async () => (await db.query(`SELECT 1 FROM clients WHERE id = $1 AND city = 'Hämeenlinna'`, [id])).rowCount,
      15_000,
      'the change to land',
    );
    expect(sim.requestCounts()['GET client/<id>/']).toBe(1);
    expect(sim.requestCounts()['GET client/'] ?? 0).toBe(0); // not a poll
    const runs = await db.query<{ kind: string }>(`SELECT kind FROM sync_runs WHERE kind = 'webhook'`);
    expect(runs.rowCount).toBe(1);
  });

  it('answers 404 to a wrong secret, an unknown installation and one without webhooks', async () => {
    expect((await hint('hooked/wrong-secret-0123456789abcdef', 'client_id=1')).status).toBe(404);
    expect((await hint(`nobody/${WEBHOOK_SECRET}`, 'client_id=1')).status).toBe(404);
    expect((await hint(`plain/${WEBHOOK_SECRET}`, 'client_id=1')).status).toBe(404);
    // A trigger this mirror does not follow: 200 (Provet would retry anything else), nothing queued.
    const other = await hint(`hooked/${WEBHOOK_SECRET}`, 'invoice_id=7');
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ queued: 0 });
  });
});
