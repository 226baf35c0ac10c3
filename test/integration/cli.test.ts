// The CLI as a person or a container runs it: a child process, configured by environment
// variables, against the simulator over HTTP and a real database. Checks exit codes and that
// errors land on stderr without secrets.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateSchema } from '../../src/db/migrate.js';
import { tryAcquireRunLock } from '../../src/db/run-lock.js';
import { createLogger } from '../../src/log.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: string[], env: Record<string, string>) {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function runCli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let sim: Simulator;
let testDb: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  sim = await startSimulator({ clients: 60, seed: 5, clientSecret: 'canary-secret-7f3a' });
  testDb = await createTestDatabase();
  env = {
    PROVET_BASE_URL: sim.baseUrl,
    PROVET_CLIENT_ID: sim.clientId,
    PROVET_CLIENT_SECRET: sim.clientSecret,
    DATABASE_URL: testDb.url,
    PROVET_DB_SCHEMA: 'clinic_a',
  };
});
afterAll(async () => {
  await testDb?.drop();
  await sim?.close();
});

describe('provet-sync CLI', () => {
  it('exits 2 with usage for no or unknown commands', async () => {
    const none = await runCli([], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: provet-sync <command>/);
    const unknown = await runCli(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('exits 2 listing every configuration problem, without secrets', async () => {
    const result = await runCli(['sync'], {
      PROVET_BASE_URL: 'ftp://nowhere',
      PROVET_API_TOKEN: 'canary-token-91b2',
      SYNC_LOOKBACK_SECONDS: 'soon',
      PROVET_DB_SCHEMA: 'Bad-Name',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PROVET_BASE_URL/);
    expect(result.stderr).toMatch(/SYNC_LOOKBACK_SECONDS/);
    expect(result.stderr).toMatch(/PROVET_DB_SCHEMA/);
    expect(result.stderr + result.stdout).not.toMatch(/canary-token-91b2/);
  });

  it('exits 2 listing a wrong value and a missing setting together, each in plain words', async () => {
    const result = await runCli(['sync'], { SYNC_LOOKBACK_SECONDS: 'soon' });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toEqual([
      'provet-sync: invalid configuration, 3 problems:',
      '  - SYNC_LOOKBACK_SECONDS: expected a whole number of seconds from 0 to 604800 (7 days), got "soon"',
      "  - PROVET_BASE_URL: required by 'sync' but not set; expected the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/",
      "  - credentials: required by 'sync' but none is set; expected PROVET_CLIENT_ID and PROVET_CLIENT_SECRET (OAuth2), or PROVET_API_TOKEN (legacy static key)",
      '',
    ]);
  });

  it('syncs into the configured schema, reports status, and exits 0', async () => {
    const first = await runCli(['sync'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const status = await runCli(['status', '--json'], env);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as {
      schema: string;
      rows: Record<string, number>;
      lastRun: { status: string };
    };
    expect(parsed.schema).toBe('clinic_a');
    expect(parsed.rows.clients).toBe(sim.exportState().clients.length);
    expect(parsed.lastRun.status).toBe('succeeded');
    const table = await runCli(['status'], env);
    expect(table.stdout).toMatch(/STREAM\s+WATERMARK \(UTC\)\s+LAG\s+ROWS/);
    expect(table.stdout).toMatch(/^clients\s+\d{4}-/m);
    // Nothing of the secret anywhere a person or a log collector would see.
    expect(first.stdout + status.stdout + table.stdout).not.toMatch(/canary-secret-7f3a/);
  });

  it('reconcile prints its findings alone on stdout, its log lines on stderr', async () => {
    const result = await runCli(['reconcile'], { ...env, LOG_LEVEL: 'info' });
    expect(result.code).toBe(0);
    const findings = JSON.parse(result.stdout) as { runId: number; status: string; streams: Record<string, unknown> };
    expect(findings.status).toBe('succeeded');
    expect(Object.keys(findings.streams)).toEqual(expect.arrayContaining(['clients', 'patients']));
    const logs = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(logs.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(new RegExp(`^reconcile run ${findings.runId} succeeded: `)),
    );
  });

  it('exits 3 and makes no request while another run holds the lock', async () => {
    const db: Database = await openDatabase(
      {
        url: testDb.url,
        schema: 'clinic_a',
        connectDeadlineMs: 5_000,
        embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
      },
      createLogger('silent'),
    );
    const lock = await tryAcquireRunLock(db.pool, 'clinic_a');
    try {
      sim.resetRequestCounts();
      const result = await runCli(['sync'], env);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/another run holds the lock/);
      expect(sim.requestCounts()).toEqual({});
    } finally {
      await lock?.release();
      await db.close();
    }
  });

  it('exits 1 when the API keeps failing, naming the endpoint', async () => {
    sim.setFaults('GET client/', { errorRate: 1 });
    try {
      const result = await runCli(['sync', '--full'], { ...env, PROVET_RETRY_DEADLINE_SECONDS: '2' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/sync failed: .*client\//);
    } finally {
      sim.setFaults('GET client/', null);
    }
  });

  it('runs as a daemon on its schedule, follows changes, and stops on SIGTERM with exit 0', async () => {
    const db: Database = await openDatabase(
      {
        url: testDb.url,
        schema: 'clinic_a',
        connectDeadlineMs: 5_000,
        embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
      },
      createLogger('silent'),
    );
    await migrateSchema(db.pool, 'clinic_a', createLogger('silent'));
    const finishedRuns = async () =>
      Number((await db.pool.query(`SELECT count(*)::int AS n FROM sync_runs WHERE status <> 'running'`)).rows[0].n);
    const runsBefore = await finishedRuns();
    const child = spawnCli(['daemon'], { ...env, SYNC_SCHEDULE: '*/1 * * * * *', LOG_LEVEL: 'info' });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      // Let the start-up run land first, so the change below can only arrive through a scheduled tick.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await finishedRuns()) === runsBefore)
        await new Promise((r) => setTimeout(r, 100));
      expect(await finishedRuns()).toBeGreaterThan(runsBefore);
      const patient = sim.exportState().patients[0]!;
      sim.updatePatient(Number(patient.id), { name: 'Seen by the daemon' });
      let name: unknown;
      while (Date.now() < deadline) {
        const rows = await db.pool
          .query('SELECT name FROM patients WHERE id = $1', [patient.id])
          .catch(() => ({ rows: [] as { name: unknown }[] }));
        name = rows.rows[0]?.name;
        if (name === 'Seen by the daemon') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(name).toBe('Seen by the daemon');
      const stoppedAt = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      expect(stdout).toMatch(/"msg":"daemon started"/);
      expect(stdout).toMatch(/"msg":"daemon stopped"/);
      const runs = await db.pool.query(`SELECT count(*)::int AS n FROM sync_runs WHERE status = 'running'`);
      expect(runs.rows[0].n).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await db.close();
    }
  });

  it('exits 1 within the deadline when the database is unreachable, naming it without its password', async () => {
    const result = await runCli(['sync'], {
      ...env,
      DATABASE_URL: 'postgres://mirror:hunter2-canary@127.0.0.1:9/provet',
      DATABASE_CONNECT_DEADLINE_SECONDS: '2',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/database 127\.0\.0\.1:9\/provet as mirror is unreachable/);
    expect(result.stderr + result.stdout).not.toMatch(/hunter2-canary/);
  });
});
