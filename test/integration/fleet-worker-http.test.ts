// A fleet worker's HTTP side, against the real process: /healthz, /readyz (the database, the
// queue's runner, the worker's heartbeat) going false while the database is cut off and back,
// /metrics with the installation's series after its runs, and SIGTERM ending it with 0. The
// worker reaches PostgreSQL through a TCP proxy, so the test can take the database away.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startCli, waitForOutput, type Running } from '../faults/cli-process.js';
import { TcpProxy } from '../faults/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, sample } from '../support/daemon-process.js';

const NAME = 'east';
const LISTENING = /"port":(\d+)[^\n]*"msg":"HTTP server listening"/;

/** The database's URL through the proxy the test cuts. */
let proxied: URL;
let sim: Simulator;
let testDb: TestDatabase;
let proxy: TcpProxy;
let worker: Running;
let url: string;
let env: Record<string, string>;

async function cli(...args: string[]) {
  const exit = await startCli(args, env).exited;
  expect(exit.code, exit.stderr).toBe(0);
}
const slotsInUse = async () => sample(await metrics(), 'provet_sync_worker_slots_in_use');
const incrementalRuns = async () =>
  sample(await metrics(), 'provet_sync_installation_runs_total', {
    installation: NAME,
    kind: 'incremental',
    status: 'succeeded',
  });

interface Readiness {
  status: number;
  body: { ready: boolean; checks: { name: string; ok: boolean; detail: string }[] };
}

const get = (path: string) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
const readyz = async (): Promise<Readiness> => {
  const res = await get('/readyz');
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
};
const metrics = async () => (await get('/metrics')).text();
const failed = (r: Readiness) =>
  r.body.checks
    .filter((c) => !c.ok)
    .map((c) => c.name)
    .sort();

beforeAll(async () => {
  sim = await startSimulator({ clients: 30, seed: 41, provetId: '941', clientSecret: 'secret-east-41' });
  testDb = await createTestDatabase();
  const direct = new URL(testDb.url);
  proxy = await TcpProxy.start(direct.hostname, Number(direct.port || 5432));
  proxied = new URL(testDb.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    DATABASE_URL: testDb.url,
    PROVET_CONTROL_SCHEMA: 'fleet_http_ctl',
  };
  const secret = join(mkdtempSync(join(tmpdir(), 'provet-sync-fleet-http-')), `${NAME}.secret`);
  writeFileSync(secret, sim.clientSecret);
  await cli(
    'installations',
    'add',
    NAME,
    '--base-url',
    sim.baseUrl,
    '--client-id',
    sim.clientId,
    '--client-secret-file',
    secret,
    '--schema',
    'fleet_http_east',
    '--schedule',
    '*/2 * * * * *', // every two seconds
    '--reconcile-schedule',
    'off',
  );
  worker = startCli(['worker'], {
    ...env,
    DATABASE_URL: proxied.toString(),
    DATABASE_CONNECT_DEADLINE_SECONDS: '5',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0', // any free port: the log line says which
    WORKER_CONCURRENCY: '2',
    WORKER_TICK_SECONDS: '0.5',
    WORKER_LEASE_SECONDS: '3',
    PROVET_RETRY_DEADLINE_SECONDS: '5',
  });
  await waitForOutput(worker, LISTENING, 30_000);
  url = `http://127.0.0.1:${LISTENING.exec(worker.output())![1]}`;
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await worker?.exited;
  await proxy?.close();
  await testDb?.drop();
  await sim?.close();
});

describe('fleet worker HTTP server', () => {
  it('/healthz answers while the process lives; /readyz once the runner runs and the heartbeat is written', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    expect((await get('/nope')).status).toBe(404);
    const ready = await eventually(
      async () => {
        const r = await readyz();
        return r.status === 200 ? r : null;
      },
      20_000,
      '/readyz to answer 200',
    );
    expect(ready.body).toMatchObject({ ready: true });
    expect(ready.body.checks.map((c) => [c.name, c.ok])).toEqual([
      ['database', true],
      ['queue_runner', true],
      ['heartbeat', true],
    ]);
  });

  it("/metrics: the worker's slots, and the installation's runs, rows, duration and last landed sync", async () => {
    const text = await eventually(
      async () => {
        const m = await metrics();
        return sample(m, 'provet_sync_installation_runs_total', { installation: NAME, status: 'succeeded' }) >= 1
          ? m
          : null;
      },
      30_000,
      'a succeeded run in the metrics',
    );
    // The first run is the backfill (full); the later ones are incremental.
    expect(
      sample(text, 'provet_sync_installation_runs_total', { installation: NAME, kind: 'full', status: 'succeeded' }),
    ).toBe(1);
    const landed = sample(text, 'provet_sync_installation_last_landed_sync_timestamp_seconds', { installation: NAME });
    expect(landed).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(landed).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(
      sample(text, 'provet_sync_installation_records_upserted_total', { installation: NAME }),
    ).toBeGreaterThanOrEqual(sim.exportState().clients.length);
    expect(sample(text, 'provet_sync_installation_api_requests_total', { installation: NAME })).toBeGreaterThan(0);
    expect(
      sample(text, 'provet_sync_installation_run_duration_seconds_count', { installation: NAME, kind: 'full' }),
    ).toBe(1);
    expect(sample(text, 'provet_sync_worker_concurrency')).toBe(2);
    expect(text).toMatch(/^provet_sync_worker_slots_in_use [01]$/m);
    expect(text).toMatch(/^provet_sync_worker_backfills_running 0$/m);
    expect(text).toMatch(/^provet_sync_process_nodejs_\w+ /m); // prom-client's default metrics
    // The series carry the installation's name, and besides it only kind, status (and le).
    for (const line of text.split('\n').filter((l) => l.startsWith('provet_sync_installation_'))) {
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      expect(labels.installation, line).toBe(NAME);
      expect(
        Object.keys(labels).filter((k) => !['installation', 'kind', 'status', 'le'].includes(k)),
        line,
      ).toEqual([]);
    }
  });

  it('/readyz answers 503 naming the database while it is cut off, and 200 once it is back (the heartbeat too)', async () => {
    // No run in flight (a run the outage cuts off is the next test's).
    await cli('installations', 'pause', NAME);
    await eventually(async () => (await slotsInUse()) === 0 && (await readyz()).status === 200, 15_000, 'no run');
    proxy.mode = 'refuse';
    proxy.dropAll();
    try {
      const down = await readyz();
      expect(down.status).toBe(503);
      expect(down.body.ready).toBe(false);
      expect(failed(down)).toEqual(['database', 'heartbeat']); // the heartbeat is not read without it
      expect(down.body.checks.find((c) => c.name === 'database')?.detail).toMatch(/^unreachable: /);
      // Liveness is not readiness: the process is still there.
      expect((await get('/healthz')).status).toBe(200);
      // Away for longer than the lease (3 s): the heartbeat has to be written again.
      await new Promise((r) => setTimeout(r, 4_000));
      expect((await readyz()).status).toBe(503);
    } finally {
      proxy.mode = 'pass';
    }
    await eventually(async () => (await readyz()).status === 200, 30_000, '/readyz to answer 200 again');
    await cli('installations', 'resume', NAME);
  });

  it("a run the database's outage cuts off costs the worker a queue slot: /readyz says so, the installation's runs go on", async () => {
    // Slow pages and changed clients: the next run takes seconds, and is cut off mid-way.
    sim.setFaults('GET client/', { latencyMs: 1_500 });
    for (const c of sim.exportState().clients.slice(0, 20)) sim.updateClient(Number(c.id), { city: 'Turku' });
    await eventually(async () => (await slotsInUse()) === 1, 15_000, 'a run to start');
    proxy.mode = 'refuse';
    proxy.dropAll();
    sim.setFaults('GET client/', null);
    try {
      // The run fails, and the queue, unable to record that, stops the slot (and starts no other).
      await waitForOutput(worker, /"msg":"a queue slot stopped after an error; 1 of 2 left/, 15_000);
    } finally {
      proxy.mode = 'pass';
    }
    const degraded = await eventually(
      async () => {
        const r = await readyz();
        return r.body.checks.every((c) => c.ok || c.name === 'queue_runner') ? r : null;
      },
      15_000,
      'the database and heartbeat back',
    );
    expect(degraded.status).toBe(503);
    expect(degraded.body.checks.find((c) => c.name === 'queue_runner')?.detail).toBe(
      'running, but 1 of 2 slots stopped after an error: restart the worker',
    );
    expect(sample(await metrics(), 'provet_sync_worker_slots_lost')).toBe(1);
    // Counted as failed: `incremental`, or `sync` when it failed before its run's row was written.
    expect(
      sample(await metrics(), 'provet_sync_installation_runs_total', { installation: NAME, status: 'failed' }),
    ).toBeGreaterThanOrEqual(1);
    // Its job was unlocked: the installation's runs go on in the slot that is left.
    const landed = await incrementalRuns();
    await eventually(async () => (await incrementalRuns()) > landed, 20_000, 'a run after the outage');
  });

  it('SIGTERM: the worker stops and exits 0', async () => {
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit.code, exit.stderr + exit.stdout.slice(-3000)).toBe(0);
    expect(exit.stdout).toContain('"msg":"worker stopped"');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('a worker left with no queue slot stops by itself and exits non-zero, for its supervisor to restart it', async () => {
    const single = startCli(['worker'], {
      ...env,
      DATABASE_URL: proxied.toString(),
      DATABASE_CONNECT_DEADLINE_SECONDS: '5',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      WORKER_CONCURRENCY: '1',
      WORKER_TICK_SECONDS: '0.5',
      WORKER_LEASE_SECONDS: '3',
      PROVET_RETRY_DEADLINE_SECONDS: '5',
    });
    try {
      await waitForOutput(single, /"msg":"worker started/, 30_000);
      sim.setFaults('GET client/', { latencyMs: 1_500 });
      for (const c of sim.exportState().clients.slice(20, 40)) sim.updateClient(Number(c.id), { city: 'Tartu' });
      await waitForOutput(single, /"msg":"sync run \d+ started/, 15_000);
      proxy.mode = 'refuse';
      proxy.dropAll();
      sim.setFaults('GET client/', null);
      try {
        await waitForOutput(single, /"msg":"no queue slot left/, 15_000);
      } finally {
        proxy.mode = 'pass';
      }
      const exit = await single.exited;
      expect(exit.code, exit.stdout.slice(-3000)).toBe(1);
      expect(exit.stdout).toContain('"msg":"worker stopped"');
    } finally {
      if (single.child.exitCode === null && single.child.signalCode === null) single.child.kill('SIGKILL');
    }
  });
});
