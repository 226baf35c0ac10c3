// Two processes on one schema, one of them paused (SIGSTOP) long enough to lose its run lock while
// the other takes over: when the paused one wakes, it must not write, move the watermark back, or
// overwrite newer rows.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { cliEnv, startCli } from './cli-process.js';
import { SourceHistory, expectInvariants, startAuditedHarness } from './invariants.js';

let h: Harness;
let history: SourceHistory;

beforeAll(async () => {
  ({ h, history } = await startAuditedHarness({ simulator: { clients: 200, seed: 31 }, pageSize: 50 }));
});
afterAll(async () => h?.close());

async function count(sql: string): Promise<number> {
  return Number((await h.db.pool.query<{ n: string }>(sql)).rows[0]!.n);
}

it('a paused process that lost its lock cannot write when it wakes', async () => {
  // A first run so that the stale one below is incremental and slow on patients.
  expect((await h.sync()).status).toBe('succeeded');
  const patients = h.sim
    .exportState()
    .patients.slice(0, 120)
    .map((p) => Number(p.id));
  for (const id of patients) h.sim.updatePatient(id, { name: `stale-era ${id}` });
  history.record('patient', patients);
  h.sim.setFaults('GET patient/', { latencyMs: 400 });

  const stale = startCli(['sync'], cliEnv(h));
  // Wait until it holds the lock and is reading patients, between two page transactions.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('the first process never got to the patients');
    const reading = await count(`SELECT count(*) AS n FROM patients WHERE name LIKE 'stale-era %'`);
    const inTransaction = await count(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    if (reading >= 50 && inTransaction === 0) {
      stale.child.kill('SIGSTOP');
      const stillIdle = await count(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
      );
      if (stillIdle === 0) break;
      stale.child.kill('SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    // Its lock connection drops (as a network partition or keepalive timeout would do it).
    // Only this test's database: other test files on a shared server hold run locks of their own.
    const terminated = await count(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(terminated).toBe(1);

    // The other process takes over and lands newer versions.
    h.sim.setFaults('GET patient/', null);
    for (const id of patients) h.sim.updatePatient(id, { name: `newer ${id}` });
    history.record('patient', patients);
    let takeover = await h.sync();
    for (let i = 0; i < 50 && takeover.status === 'locked'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      takeover = await h.sync();
    }
    expect(takeover.status).toBe('succeeded');
  } finally {
    stale.child.kill('SIGCONT');
  }
  const watermarkBefore = await h.db.pool.query(`SELECT stream, watermark FROM sync_state ORDER BY stream`);
  const wokeAt = new Date();
  const exit = await stale.exited;
  expect(exit.code).toBe(1);
  expect(exit.stderr).toMatch(/lost its lease/);
  // Nothing written by the stale process after it woke; the watermark did not move back.
  expect(await count(`SELECT count(*) AS n FROM patients WHERE name LIKE 'stale-era %'`)).toBe(0);
  expect(await count(`SELECT count(*) AS n FROM patients WHERE synced_at > '${wokeAt.toISOString()}'`)).toBe(0);
  expect((await h.db.pool.query(`SELECT stream, watermark FROM sync_state ORDER BY stream`)).rows).toEqual(
    watermarkBefore.rows,
  );
  await expectInvariants(h, history);
});
