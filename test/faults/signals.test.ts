// SIGTERM in the middle of a run: the page being written commits or rolls back whole, the process
// exits promptly with code 0, and the next run resumes where it stopped.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { cliEnv, startCli } from './cli-process.js';
import { SourceHistory, expectInvariants, startAuditedHarness } from './invariants.js';

let h: Harness;
let history: SourceHistory;

beforeAll(async () => {
  ({ h, history } = await startAuditedHarness({ simulator: { clients: 400, seed: 71 }, pageSize: 50 }));
});
afterAll(async () => h?.close());

const count = async (table: string) =>
  (await h.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

it('SIGTERM mid-run: whole pages, exit 0 promptly, and the next run resumes', async () => {
  h.sim.setFaults('global', { latencyMs: 150, slowBodyMs: 150 });
  const running = startCli(['sync'], cliEnv(h));
  const deadline = Date.now() + 30_000;
  while ((await count('clients')) < 100) {
    if (Date.now() > deadline) throw new Error(`no client pages landed:\n${running.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const signalledAt = Date.now();
  running.child.kill('SIGTERM');
  const exit = await running.exited;
  const tookMs = Date.now() - signalledAt;
  expect(exit.code).toBe(0);
  expect(tookMs).toBeLessThan(5_000);
  expect(exit.stdout).toMatch(/stopped on request/);
  // Pages land whole: 50 clients each (the total is not reached, so no short last page).
  const landed = await count('clients');
  expect(landed % 50).toBe(0);
  expect(landed).toBeLessThan(h.sim.exportState().clients.length);
  const watermark = await h.db.pool.query(
    `SELECT count(*)::int AS n FROM sync_state WHERE stream IN ('clients', 'patients')`,
  );
  expect(watermark.rows[0].n).toBe(0);
  h.sim.setFaults('global', null);
  await expectInvariants(h, history);
});
