// Fleet mode end to end: three simulated installations (each its own simulator, provet id and
// credentials), two `provet-sync worker` processes on one real PostgreSQL, the registry edited
// with the CLI. Every installation converges to its own simulator; a paused one gets no
// requests; a worker killed with SIGKILL mid-run is found dead by the other, which lands the
// change that came after; no installation ever had two runs at once (read from its run table);
// a removed installation's runs stop.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startCli, type Running } from '../faults/cli-process.js';
import { mirrorDifferences } from '../support/compare.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/daemon-process.js';

const CONTROL = 'fleet_ctl';
const QUEUE = `${CONTROL}_queue`;
const LEASE_SECONDS = 3;
const SUFFIX = Math.random().toString(36).slice(2, 8);
const GROUP_READER = `fleet_group_${SUFFIX}`;
const A_READER = `fleet_a_${SUFFIX}`;

interface Site {
  name: string;
  schema: string;
  sim: Simulator;
  pool?: pg.Pool;
}

let testDb: TestDatabase;
let db: pg.Pool;
let sites: Record<'a' | 'b' | 'c', Site>;
let env: Record<string, string>;
let workers: Running[] = [];

async function cli(...args: string[]) {
  const exit = await startCli(args, env).exited;
  expect(exit.code, exit.stderr).toBe(0);
  return exit;
}

function startWorker(): Running {
  return startCli(['worker'], {
    ...env,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    WORKER_CONCURRENCY: '2',
    // Each worker serves /healthz, /readyz and /metrics: two on one machine need a port each.
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    WORKER_TICK_SECONDS: '0.5',
    WORKER_LEASE_SECONDS: String(LEASE_SECONDS),
    PROVET_PAGE_SIZE: '20',
    PROVET_RETRY_DEADLINE_SECONDS: '10',
  });
}

function poolOf(site: Site): pg.Pool {
  site.pool ??= new pg.Pool({ connectionString: testDb.url, options: `-c search_path=${site.schema}`, max: 2 });
  return site.pool;
}

function requestsTo(site: Site): number {
  return Object.values(site.sim.requestCounts()).reduce((a, b) => a + b, 0);
}

async function converged(site: Site): Promise<boolean> {
  const exists = await db.query('SELECT to_regclass($1) AS t', [`${site.schema}.clients`]);
  if (!exists.rows[0].t) return false;
  return (await mirrorDifferences(poolOf(site), site.sim.exportState())).length === 0;
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, max: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'provet-sync-fleet-'));
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    DATABASE_URL: testDb.url,
    PROVET_CONTROL_SCHEMA: CONTROL,
  };
  const start = async (name: string, clients: number, seed: number): Promise<Site> => {
    const sim = await startSimulator({ clients, seed, provetId: `9${seed}`, clientSecret: `secret-${name}-${seed}` });
    return { name, schema: `fleet_${name}`, sim };
  };
  sites = { a: await start('a', 120, 1), b: await start('b', 80, 2), c: await start('c', 40, 3) };
  for (const site of Object.values(sites)) {
    const secret = join(dir, `${site.name}.secret`);
    writeFileSync(secret, site.sim.clientSecret);
    await cli(
      'installations',
      'add',
      site.name,
      '--base-url',
      site.sim.baseUrl,
      '--client-id',
      site.sim.clientId,
      '--client-secret-file',
      secret,
      '--schema',
      site.schema,
      '--schedule',
      '*/2 * * * * *', // every two seconds
      '--reconcile-schedule',
      'off',
      ...(site.name === 'c' ? ['--paused'] : []),
    );
  }
  workers = [startWorker(), startWorker()];
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  const exits = await Promise.all(workers.map((w) => w.exited));
  for (const site of Object.values(sites ?? {})) {
    await site.pool?.end();
    await site.sim.close();
  }
  await db?.end();
  await testDb?.drop(); // and with it every grant: the roles can go
  const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await admin.connect();
  for (const role of [GROUP_READER, A_READER]) {
    await admin.query(`DROP ROLE IF EXISTS ${role}_login`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
  }
  await admin.end();
  // SIGTERM: the runs in flight stop after their page, the worker exits 0 (the killed one excepted).
  for (const exit of exits.filter((e) => e.signal !== 'SIGKILL'))
    expect(exit.code, exit.stderr + exit.stdout.slice(-3000)).toBe(0);
});

describe('fleet workers', () => {
  it('mirror every installation into its own schema; a paused one gets no request', async () => {
    await eventually(
      async () => (await converged(sites.a)) && (await converged(sites.b)),
      40_000,
      'a and b to converge',
    );
    expect(requestsTo(sites.c)).toBe(0);
    const all = JSON.parse((await cli('status', '--all', '--json')).stdout) as {
      installation: string;
      paused: boolean;
      mirror: { lastSuccessfulRun: { status: string } | null; rows: { clients: number } } | null;
    }[];
    expect(
      all.map((s) => [s.installation, s.paused, s.mirror?.lastSuccessfulRun?.status, s.mirror?.rows.clients]),
    ).toEqual([
      ['a', false, 'succeeded', sites.a.sim.exportState().clients.length],
      ['b', false, 'succeeded', sites.b.sim.exportState().clients.length],
      ['c', true, undefined, undefined],
    ]);
    const one = await cli('status', 'b');
    expect(one.stdout).toMatch(/^INSTALLATION .*\nb\s+fleet_b\s+\S+\s+succeeded/);
    expect(one.stdout).toContain('schema: fleet_b');
    const id = Number(sites.b.sim.exportState().clients[5]!.id);
    sites.b.sim.updateClient(id, { city: 'Tromsø' });
    await eventually(() => converged(sites.b), 20_000, 'the change at b to land');
  });

  it('provet_all has every mirrored installation, each row with its name; readers read what they were granted', async () => {
    const counts = async () =>
      (
        await db.query<{ installation: string; n: string }>(
          `SELECT installation, count(*) AS n FROM provet_all.clients GROUP BY 1 ORDER BY 1`,
        )
      ).rows.map((r) => [r.installation, Number(r.n)]);
    const expected = [
      ['a', sites.a.sim.exportState().clients.length],
      ['b', sites.b.sim.exportState().clients.length],
    ];
    await eventually(async () => JSON.stringify(await counts()) === JSON.stringify(expected), 15_000, 'the views');
    expect(await counts()).toEqual(expected); // c, paused before its first run, has no mirror yet

    await cli('grant-reader', GROUP_READER, '--group');
    await cli('grant-reader', A_READER, '--installation', 'a');
    const login = async (role: string) => {
      await db.query(`CREATE ROLE ${role}_login LOGIN PASSWORD 'x' IN ROLE ${role}`);
      const url = new URL(testDb.url);
      url.username = `${role}_login`;
      url.password = 'x';
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      return client;
    };
    const groupReader = await login(GROUP_READER);
    const aReader = await login(A_READER);
    try {
      const active = await groupReader.query<{ n: string }>(
        'SELECT count(DISTINCT installation) AS n FROM provet_all.active_clients',
      );
      expect(Number(active.rows[0]!.n)).toBe(2);
      await expect(groupReader.query('SELECT 1 FROM fleet_a.clients LIMIT 1')).rejects.toThrow(/permission denied/);
      // The analysts' docs' queries across installations run as they are written there.
      const docs = readFileSync(new URL('../../docs/analysts.md', import.meta.url), 'utf8');
      const section = docs.slice(docs.indexOf('## Many installations'));
      const queries = [...section.matchAll(/```sql\n([\s\S]*?)```/g)]
        .flatMap((m) => m[1]!.split(';'))
        .map((q) => q.replace(/--.*$/gm, '').trim())
        .filter(Boolean);
      expect(queries.length).toBe(3);
      for (const q of queries) expect((await groupReader.query(q)).rowCount, q).toBeGreaterThan(0);
      expect((await aReader.query('SELECT 1 FROM fleet_a.active_clients LIMIT 1')).rowCount).toBe(1);
      await expect(aReader.query('SELECT 1 FROM fleet_b.clients LIMIT 1')).rejects.toThrow(/permission denied/);
      await expect(aReader.query('SELECT 1 FROM provet_all.clients LIMIT 1')).rejects.toThrow(/permission denied/);
    } finally {
      await groupReader.end();
      await aReader.end();
    }
  });

  it('a worker killed with SIGKILL mid-run: the other gives its run back to the queue and lands what came after', async () => {
    // Slow pages, and every client changed: the next run of a takes several seconds (6 pages of
    // 20 at 1.5 s each), so it is still going when the worker is killed after the lock's refresh,
    // however loaded the machine.
    sites.a.sim.setFaults('GET client/', { latencyMs: 1500 });
    for (const c of sites.a.sim.exportState().clients.slice(0, 110))
      sites.a.sim.updateClient(Number(c.id), { city: 'Turku' });
    // The worker whose slot holds a's job, read from the queue and the heartbeats.
    const pid = await eventually(
      async () => {
        const { rows } = await db.query<{ pid: number }>(
          `SELECT h.pid FROM ${QUEUE}.jobs j JOIN ${CONTROL}.worker_heartbeats h ON j.locked_by = ANY (h.slot_ids)
         WHERE j.key = 'sync:a' AND j.locked_at IS NOT NULL`,
        );
        return rows[0]?.pid;
      },
      20_000,
      "a's run to start",
    );
    const victim = workers.find((w) => w.child.pid === pid)!;
    expect(victim, 'the worker holding the job is one of ours').toBeDefined();
    // Killed once the run is under way (a page of it landed), not before it began.
    await eventually(
      async () => {
        const { rows } = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM fleet_a.clients WHERE city = 'Turku'`,
        );
        return Number(rows[0]!.n) > 0;
      },
      20_000,
      'a page of the run to land',
    );
    // The heartbeat keeps the job's lock fresh (the queue frees a lock four hours old; a backfill
    // can run longer): locked_at moves while the run goes on.
    const lockedAt = async () =>
      (
        await db.query<{ t: number }>(
          `SELECT extract(epoch FROM locked_at)::float8 AS t FROM ${QUEUE}.jobs WHERE key = 'sync:a'`,
        )
      ).rows[0]?.t;
    const firstLock = await lockedAt();
    await eventually(
      async () => ((await lockedAt()) ?? 0) > (firstLock ?? Infinity),
      10_000,
      'the lock to be refreshed',
    );
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    sites.a.sim.setFaults('GET client/', null);
    const late = Number(sites.a.sim.exportState().clients[110]!.id);
    sites.a.sim.updateClient(late, { city: 'Oulu' });

    await eventually(() => converged(sites.a), 40_000, 'a to converge through the surviving worker');
    const failover = (Date.now() - killedAt) / 1000;
    expect(failover).toBeLessThan(LEASE_SECONDS + 20);
    const runs = await db.query<{ status: string; error: string | null }>(
      `SELECT status, error FROM fleet_a.sync_runs ORDER BY id`,
    );
    expect(runs.rows.some((r) => r.status === 'failed' && /interrupted/.test(r.error ?? ''))).toBe(true);
    const { rows: alive } = await db.query<{ pid: number }>(`SELECT pid FROM ${CONTROL}.worker_heartbeats`);
    expect(alive.map((r) => r.pid)).not.toContain(pid);
  });

  it('never ran one installation twice at once (from each schema’s run table)', async () => {
    for (const site of [sites.a, sites.b]) {
      const { rows } = await db.query<{ started: number; finished: number | null }>(
        `SELECT extract(epoch FROM started_at)::float8 AS started, extract(epoch FROM finished_at)::float8 AS finished
         FROM ${site.schema}.sync_runs ORDER BY started_at`,
      );
      expect(rows.length).toBeGreaterThan(2);
      for (let i = 1; i < rows.length; i++) {
        const before = rows[i - 1]!;
        expect(before.finished, `run ${i} of ${site.name} ended`).not.toBeNull();
        expect(rows[i]!.started, `run ${i + 1} of ${site.name} began after run ${i} ended`).toBeGreaterThanOrEqual(
          before.finished!,
        );
      }
    }
  });

  it('a removed installation gets no more runs', async () => {
    await cli('installations', 'remove', 'b');
    // A run already under way may finish; then nothing more.
    await new Promise((r) => setTimeout(r, 2_000));
    sites.b.sim.resetRequestCounts();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(requestsTo(sites.b)).toBe(0);
    expect(requestsTo(sites.c)).toBe(0);
    const { rows } = await db.query<{ installation: string }>('SELECT DISTINCT installation FROM provet_all.clients');
    expect(rows.map((r) => r.installation)).toEqual(['a']);
  });
});
