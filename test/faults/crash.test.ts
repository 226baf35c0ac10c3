// SIGKILL at each named point of a run, and at random moments: nothing that landed is lost,
// nothing is claimed that did not land, and the next run converges.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAILPOINT_NAMES } from '../../src/failpoints.js';
import { whenUnlocked, type Harness } from '../support/harness.js';
import { runReconcile } from '../../src/sync/reconcile.js';
import { mirrorDifferences } from '../support/compare.js';
import { eventually, startDaemon } from '../support/daemon-process.js';
import { cliEnv, startCli, waitForOutput } from './cli-process.js';
import { SourceHistory, expectInvariants, startAuditedHarness } from './invariants.js';

let h: Harness;
let history: SourceHistory;

beforeEach(async () => {
  ({ h, history } = await startAuditedHarness({ simulator: { clients: 300, seed: 21 }, pageSize: 50 }));
});
afterEach(async () => h?.close());

/** Clients and patients the mirror holds: whole pages of 50, since each page lands whole. */
async function landedRecords(): Promise<{ clients: number; both: number }> {
  const result = await h.db.pool.query<{ clients: number; patients: number }>(
    'SELECT (SELECT count(*)::int FROM clients) AS clients, (SELECT count(*)::int FROM patients) AS patients',
  );
  const { clients, patients } = result.rows[0]!;
  return { clients, both: clients + patients };
}

/** Changes a spread of clients and patients, recording each new version. */
function changeClinic(round: number): void {
  const state = h.sim.exportState();
  const clients = state.clients
    .filter((_, i) => i % 37 === round % 37)
    .slice(0, 6)
    .map((c) => Number(c.id));
  for (const id of clients) h.sim.updateClient(id, { remarks: `round ${round}` });
  history.record('client', clients);
  const patients = state.patients
    .filter((_, i) => i % 41 === round % 41)
    .slice(0, 6)
    .map((p) => Number(p.id));
  for (const id of patients) h.sim.updatePatient(id, { weight: String(10 + round) });
  history.record('patient', patients);
}

describe('SIGKILL at a named point', () => {
  it.each(FAILPOINT_NAMES)('%s: the next run converges and no watermark passed unlanded data', async (point) => {
    // The custom fields' page comes first; then species, breeds, clients and patients (50 a page)
    // are read side by side, each stream landing up to two pages at once. By the tenth page's
    // crash point at least eight pages of records have reached theirs, so at least one of them has
    // landed whole. The third watermark write is the last of the codelists', the clients' and the
    // patients': both streams have landed all their pages by then.
    const occurrence = point === 'in-watermark' ? 3 : 10;
    const killed = await startCli(['sync'], cliEnv(h, { PROVET_SYNC_CRASH_AT: `${point}:${occurrence}` })).exited;
    expect(killed.signal).toBe('SIGKILL');
    // Real work happened before the kill: whole pages landed.
    const landed = await landedRecords();
    if (point === 'in-watermark') expect(landed.clients).toBe(h.sim.exportState().clients.length);
    else expect(landed.both).toBeGreaterThanOrEqual(50);
    const runs = await h.db.pool.query<{ status: string }>('SELECT status FROM sync_runs ORDER BY id');
    expect(runs.rows.map((r) => r.status)).toEqual(['running']);

    changeClinic(1);
    await expectInvariants(h, history);
    const after = await h.db.pool.query<{ status: string; error: string | null }>(
      'SELECT status, error FROM sync_runs ORDER BY id LIMIT 1',
    );
    expect(after.rows[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted/) as unknown });
  });
});

describe('SIGKILL at random moments', () => {
  it('over many trials with changes in between, the mirror converges', async () => {
    h.sim.setFaults('global', { latencyMs: 60 });
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let killedMidRun = 0;
    for (let trial = 0; trial < 6; trial++) {
      changeClinic(trial);
      const running = startCli(['sync'], cliEnv(h));
      // The random moment counts from the run's start, not the process's: a loaded machine can take
      // a second or more just to start Node.js, and a kill before the run begins tests nothing.
      await waitForOutput(running, /sync run \d+ started/);
      await new Promise((r) => setTimeout(r, random() * 1300));
      running.child.kill('SIGKILL');
      const exit = await running.exited;
      if (exit.signal === 'SIGKILL') killedMidRun += 1;
    }
    expect(killedMidRun).toBeGreaterThanOrEqual(3);
    expect((await landedRecords()).both).toBeGreaterThan(0);
    h.sim.setFaults('global', null);
    await expectInvariants(h, history);
  });
});

describe('SIGKILL in the other kinds of run', () => {
  /** Rows of this run kind, in order, as sync_runs holds them. */
  async function runsOf(kind: string): Promise<{ status: string; error: string | null }[]> {
    return (
      await h.db.pool.query<{ status: string; error: string | null }>(
        'SELECT status, error FROM sync_runs WHERE kind = $1 ORDER BY id',
        [kind],
      )
    ).rows;
  }

  it('a reconciliation killed after its upsert: the next one repairs the mirror and marks it interrupted', async () => {
    expect((await h.sync()).status).toBe('succeeded');
    // Drift for reconciliation to repair: rows lost from the mirror, a client deleted at the source.
    await h.db.pool.query('DELETE FROM clients WHERE id IN (SELECT id FROM clients ORDER BY id LIMIT 5)');
    const gone = Number(h.sim.exportState().clients[200]!.id);
    history.deleteClient(gone);
    const killed = await startCli(['reconcile'], cliEnv(h, { PROVET_SYNC_CRASH_AT: 'after-upsert@reconcile' })).exited;
    expect(killed.signal).toBe('SIGKILL');
    expect(await runsOf('reconcile')).toEqual([{ status: 'running', error: null }]);

    const outcome = await whenUnlocked(() =>
      runReconcile({ pool: h.db.pool, schema: h.db.schema, provet: h.provet, logger: h.logger, pageSize: 100 }),
    );
    expect(outcome.status).toBe('succeeded');
    expect(await runsOf('reconcile')).toEqual([
      { status: 'failed', error: expect.stringMatching(/interrupted/) as unknown },
      { status: 'succeeded', error: null },
    ]);
    expect(await mirrorDifferences(h.db.pool, h.sim.exportState())).toEqual([]);
    await expectInvariants(h, history);
  });

  it('a webhook re-fetch killed before its upsert: the next run lands the change and marks it interrupted', async () => {
    const secret = 'crash-webhook-secret-0123456789abcdef';
    const daemon = await startDaemon({
      ...cliEnv(h),
      // Only the run at start is scheduled; the failpoint is limited to webhook runs.
      SYNC_SCHEDULE: '0 0 1 1 *',
      RECONCILE_SCHEDULE: 'off',
      WEBHOOK_SECRET: secret,
      WEBHOOK_DEBOUNCE_SECONDS: '0',
      PROVET_SYNC_CRASH_AT: 'before-upsert@webhook',
    });
    try {
      await eventually(
        async () => (await runsOf('full')).some((r) => r.status === 'succeeded'),
        30_000,
        'the run at start',
      );
      const id = Number(h.sim.exportState().clients[7]!.id);
      h.sim.updateClient(id, { lastname: 'Hinted' });
      history.record('client', [id]);
      const answer = await fetch(`${daemon.url}/webhooks/provet/${secret}`, {
        method: 'POST',
        body: `client_id=${id}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(answer.status).toBe(200);
      const ended = await daemon.ended;
      expect(ended.signal).toBe('SIGKILL');
      expect(await runsOf('webhook')).toEqual([{ status: 'running', error: null }]);
    } finally {
      await daemon.stop();
    }
    await expectInvariants(h, history);
    expect(await runsOf('webhook')).toEqual([
      { status: 'failed', error: expect.stringMatching(/interrupted/) as unknown },
    ]);
  });
});
