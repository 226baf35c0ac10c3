// Secrets read from *_FILE never show: a sync, a failing sync and a daemon (webhooks, metrics,
// readiness) run at trace level with canary values, which are then looked for in every log line,
// every HTTP answer, every error and every table of the mirror.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { cliEnv, eventually, startDaemon } from '../support/daemon-process.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const CLIENT_SECRET = 'canary-client-secret-5e0c1b';
const WEBHOOK_SECRET = 'canary-webhook-secret-7a44d2f1';
const DB_PASSWORD = 'canary-db-password-93ff';
// A login of this file's own with the canary as its password: the test server checks passwords.
const DB_ROLE = `secrets_canary_${process.pid}`;
const CANARIES = [CLIENT_SECRET, WEBHOOK_SECRET, DB_PASSWORD];

let sim: Simulator;
let testDb: TestDatabase;
let dir: string;
let env: Record<string, string>;
const seen: string[] = [];

function runCli(args: string[], extra: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: cliEnv({ ...env, ...extra }) });
    child.stdout.on('data', (c: Buffer) => seen.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => seen.push(c.toString()));
    child.on('close', resolve);
  });
}

beforeAll(async () => {
  sim = await startSimulator({ clients: 40, seed: 8, clientSecret: CLIENT_SECRET });
  testDb = await createTestDatabase();
  const admin = new pg.Client({ connectionString: testDb.url });
  await admin.connect();
  try {
    await admin.query(`DROP ROLE IF EXISTS ${DB_ROLE}`);
    await admin.query(`CREATE ROLE ${DB_ROLE} LOGIN PASSWORD '${DB_PASSWORD}'`);
    await admin.query(`ALTER DATABASE ${testDb.name} OWNER TO ${DB_ROLE}`);
  } finally {
    await admin.end();
  }
  dir = mkdtempSync(join(tmpdir(), 'provet-sync-secrets-'));
  const url = new URL(testDb.url);
  url.username = DB_ROLE;
  url.password = DB_PASSWORD;
  writeFileSync(join(dir, 'client_secret'), `${CLIENT_SECRET}\n`);
  writeFileSync(join(dir, 'webhook_secret'), WEBHOOK_SECRET);
  writeFileSync(join(dir, 'database_url'), url.toString());
  env = {
    PROVET_BASE_URL: sim.baseUrl,
    PROVET_CLIENT_ID: sim.clientId,
    PROVET_CLIENT_SECRET_FILE: join(dir, 'client_secret'),
    WEBHOOK_SECRET_FILE: join(dir, 'webhook_secret'),
    DATABASE_URL_FILE: join(dir, 'database_url'),
    LOG_LEVEL: 'trace',
    PROVET_RETRY_DEADLINE_SECONDS: '1',
  };
});

afterAll(async () => {
  await testDb?.drop();
  if (testDb) {
    const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${DB_ROLE}`).finally(() => admin.end());
  }
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('secrets from *_FILE', () => {
  it('appear in no log line, HTTP answer, error or table', async () => {
    expect(await runCli(['sync'])).toBe(0);
    // A failing run: its error is logged, printed and stored in sync_runs.
    sim.setFaults('global', { errorRate: 1 });
    expect(await runCli(['sync'])).toBe(1);
    sim.setFaults('global', null);

    const daemon = await startDaemon({
      ...env,
      SYNC_SCHEDULE: '0 0 1 1 *',
      RECONCILE_SCHEDULE: 'off',
      WEBHOOK_DEBOUNCE_SECONDS: '0',
    });
    try {
      const id = (sim.exportState().clients[0] as { id: number }).id;
      const hook = await fetch(`${daemon.url}/webhooks/provet/${WEBHOOK_SECRET}`, {
        method: 'POST',
        body: `client_id=${id}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(hook.status).toBe(200);
      const wrong = await fetch(`${daemon.url}/webhooks/provet/${WEBHOOK_SECRET.slice(0, -1)}`, {
        method: 'POST',
        body: 'client_id=1',
      });
      expect(wrong.status).toBe(404);
      seen.push(await wrong.text());
      await eventually(
        async () =>
          (await fetch(`${daemon.url}/metrics`))
            .text()
            .then((t) => t.includes('provet_sync_runs_total{kind="webhook"') && t),
        10_000,
        'the webhook run',
      );
      for (const path of ['/metrics', '/readyz', '/healthz'])
        seen.push(await (await fetch(`${daemon.url}${path}`)).text());
    } finally {
      expect(await daemon.stop()).toBe(0);
      seen.push(daemon.output());
    }

    const db = new pg.Client({ connectionString: testDb.url });
    await db.connect();
    try {
      const tables = await db.query<{ name: string }>(
        `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'provet'`,
      );
      expect(tables.rows.length).toBeGreaterThan(8);
      for (const { name } of tables.rows) {
        const rows = await db.query<{ t: string }>(`SELECT t::text AS t FROM ${name} t`);
        seen.push(...rows.rows.map((r) => r.t));
      }
    } finally {
      await db.end();
    }

    const everything = seen.join('\n');
    // The failure and debug lines were there to be searched (booleans: a failure must not print it all).
    expect(/sync run \d+ failed/.test(everything)).toBe(true);
    expect(everything.includes('"level":20')).toBe(true);
    for (const canary of CANARIES) expect(everything.includes(canary), canary).toBe(false);
  });
});
