// The database failing under a run: connections killed while busy and while idle, the server
// unreachable for a while (a proxy that refuses or stalls). Runs fail cleanly, the daemon keeps
// going and recovers, and the mirror converges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDaemon } from '../../src/daemon/scheduler.js';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { runSync } from '../../src/sync/run.js';
import type { Harness } from '../support/harness.js';
import { SourceHistory, expectInvariants, startAuditedHarness } from './invariants.js';
import { TcpProxy } from './tcp-proxy.js';

let h: Harness;
let history: SourceHistory;

beforeAll(async () => {
  ({ h, history } = await startAuditedHarness({ simulator: { clients: 200, seed: 61 }, pageSize: 50 }));
});
afterAll(async () => h?.close());

async function terminateOthers(state: 'busy' | 'idle'): Promise<number> {
  const condition = state === 'busy' ? `state IN ('active', 'idle in transaction')` : `state = 'idle'`;
  const result = await h.db.pool.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'provet-sync' AND ${condition}`,
  );
  return result.rows[0]!.n;
}

describe('connections killed', () => {
  it('while busy: the run fails cleanly, nothing is lost, the next run converges', async () => {
    h.sim.setFaults('global', { latencyMs: 25 });
    // A separate pool for the run, so the test's own connection is not among those killed.
    const runDb = await openDatabase(
      {
        url: h.testDatabase.url,
        schema: 'provet',
        connectDeadlineMs: 5_000,
        embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
      },
      h.logger,
    );
    try {
      const run = runSync({
        pool: runDb.pool,
        schema: 'provet',
        provet: h.provet,
        logger: h.logger,
        pageSize: 50,
        lookbackSeconds: 120,
      });
      let killed = 0;
      for (let i = 0; i < 200 && killed === 0; i++) {
        await new Promise((r) => setTimeout(r, 15));
        if ((await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM clients`)).rows[0]!.n >= 50)
          killed += await terminateOthers('busy');
      }
      const outcome = await run.catch((err: Error) => ({ status: 'threw' as const, error: err }));
      expect(killed).toBeGreaterThan(0);
      expect(['failed', 'threw', 'succeeded']).toContain(outcome.status);
    } finally {
      await runDb.close();
    }
    h.sim.setFaults('global', null);
    await expectInvariants(h, history);
  });

  it('while idle in the pool: the next run reconnects and lands', async () => {
    const ids = h.sim
      .exportState()
      .clients.slice(0, 5)
      .map((c) => Number(c.id));
    for (const id of ids) h.sim.updateClient(id, { city: 'After idle kill' });
    history.record('client', ids);
    expect(await terminateOthers('idle')).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    await expectInvariants(h, history);
  });
});

describe('the database unreachable for a while', () => {
  let proxy: TcpProxy;
  let proxied: Database;
  beforeAll(async () => {
    const target = new URL(h.testDatabase.url);
    proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
    const url = new URL(h.testDatabase.url);
    url.host = `127.0.0.1:${proxy.port}`;
    proxied = await openDatabase(
      {
        url: url.toString(),
        schema: 'provet',
        connectDeadlineMs: 2_000,
        embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
      },
      h.logger,
    );
  });
  afterAll(async () => {
    await proxied?.close();
    await proxy?.close();
  });

  it.each(['refuse', 'stall'] as const)('(%s) the daemon keeps going and lands a run once it is back', async (mode) => {
    const ids = h.sim
      .exportState()
      .patients.slice(0, 5)
      .map((p) => Number(p.id));
    for (const id of ids) h.sim.updatePatient(id, { color: `outage ${mode}` });
    history.record('patient', ids);
    proxy.mode = mode;
    proxy.dropAll();
    const controller = new AbortController();
    const outcomes: string[] = [];
    const daemon = runDaemon({
      schedule: '*/1 * * * * *',
      logger: h.logger,
      signal: controller.signal,
      runOnce: async (signal) => {
        const outcome = await runSync({
          pool: proxied.pool,
          schema: 'provet',
          provet: h.provet,
          logger: h.logger,
          pageSize: 50,
          lookbackSeconds: 120,
          signal,
        }).catch((err: Error) => {
          outcomes.push(`threw: ${err.message}`);
          throw err;
        });
        outcomes.push(outcome.status);
        return outcome;
      },
    });
    await new Promise((r) => setTimeout(r, 2_500));
    expect(outcomes.filter((o) => o === 'succeeded')).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(0);
    proxy.mode = 'pass';
    proxy.dropAll();
    const deadline = Date.now() + 20_000;
    while (!outcomes.includes('succeeded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await daemon;
    expect(outcomes).toContain('succeeded');
    const colors = await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM patients WHERE color = $1`, [
      `outage ${mode}`,
    ]);
    expect(colors.rows[0]!.n).toBe(5);
  });

  it('after the outages, the invariants hold', async () => {
    await expectInvariants(h, history);
  });
});
