// The source moving under a run: records changing while pages are read (page-number pagination
// drifts), several records sharing one `modified` across a page boundary, the API's clock ahead,
// behind, and stepping back during a run, and the stored watermark reset to the past or the future.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { SourceHistory, expectInvariants, rowVersions, startAuditedHarness } from './invariants.js';

let h: Harness;
let history: SourceHistory;

beforeEach(async () => {
  ({ h, history } = await startAuditedHarness({ simulator: { clients: 250, seed: 41 }, pageSize: 50 }));
});
afterEach(async () => h?.close());

/** Runs `edit` every few milliseconds while `work` runs; bounded by `maxEdits`. */
async function whileRunning<T>(
  work: Promise<T>,
  edit: (i: number) => void,
  maxEdits = 200,
): Promise<{ result: T; edits: number }> {
  let done = false;
  let edits = 0;
  const editor = (async () => {
    while (!done && edits < maxEdits) {
      edit(edits++);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const result = await work.finally(() => {
    done = true;
  });
  await editor;
  return { result, edits };
}

describe('records changing while pages are read', () => {
  it('loses nothing to offset drift, with creates, edits and archives mid-run', async () => {
    h.sim.setFaults('global', { latencyMs: 20 });
    const ids = h.sim.exportState().clients.map((c) => Number(c.id));
    const { result, edits } = await whileRunning(h.sync(), (i) => {
      if (i % 3 === 0) {
        const created = h.sim.createClient({ firstname: 'Mid', lastname: `Run ${i}`, country: 'FI' });
        history.record('client', [Number(created.id)]);
      } else {
        const id = ids[(i * 17) % ids.length]!;
        h.sim.updateClient(id, i % 3 === 1 ? { lastname: `Edited ${i}` } : { archived: true });
        history.record('client', [id]);
      }
    });
    expect(result.status).toBe('succeeded');
    expect(edits).toBeGreaterThan(10);
    if (result.status === 'succeeded') expect(result.streams.clients?.pages).toBeGreaterThanOrEqual(5);
    h.sim.setFaults('global', null);
    await expectInvariants(h, history);
  });

  it('keeps records that share one modified value across a page boundary', async () => {
    expect((await h.sync()).status).toBe('succeeded');
    const ids = h.sim
      .exportState()
      .clients.slice(30, 130)
      .map((c) => Number(c.id));
    for (const id of ids) h.sim.updateClient(id, { city: 'Shared stamp' });
    // 100 records, one stamp: they straddle the 50-record page boundaries.
    h.sim.touchRecords('client', ids, h.sim.now());
    history.record('client', ids);
    const outcome = await h.sync();
    expect(outcome.status).toBe('succeeded');
    if (outcome.status === 'succeeded') expect(outcome.streams.clients?.written).toBe(100);
    await expectInvariants(h, history);
  });
});

describe('clock skew', () => {
  it.each([
    ['ahead', 5 * 60_000],
    ['behind', -5 * 60_000],
  ])('the API clock %s of this machine loses nothing', async (_, offset) => {
    h.sim.setClockOffset(offset);
    expect((await h.sync()).status).toBe('succeeded');
    const ids = h.sim
      .exportState()
      .patients.slice(0, 20)
      .map((p) => Number(p.id));
    for (const id of ids) h.sim.updatePatient(id, { color: `skewed ${offset}` });
    history.record('patient', ids);
    await expectInvariants(h, history);
  });

  it('the API clock stepping back between runs loses nothing', async () => {
    // Scaled down to fit a test: no lookback, a step of 8 s, and 9.5 s of real time until the
    // next run, by when Provet's clock has passed the stored watermark again.
    expect((await h.sync({ lookbackSeconds: 0 })).status).toBe('succeeded');
    h.sim.setClockOffset(-8_000);
    const ids = h.sim
      .exportState()
      .patients.slice(0, 10)
      .map((p) => Number(p.id));
    for (const id of ids) h.sim.updatePatient(id, { color: 'after a step back' });
    history.record('patient', ids);
    await new Promise((r) => setTimeout(r, 9_500));
    const outcome = await h.sync({ lookbackSeconds: 0 });
    expect(outcome.status).toBe('succeeded');
    const mirrored = await h.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM patients WHERE color = 'after a step back'`,
    );
    expect(mirrored.rows[0]!.n).toBe(10);
    await h.db.pool.query('TRUNCATE row_regressions');
    await expectInvariants(h, history);
  });

  it('the API clock stepping back during a run loses nothing', async () => {
    expect((await h.sync()).status).toBe('succeeded');
    h.sim.setFaults('global', { latencyMs: 20 });
    // Patient pages slow enough that the step surely falls between two of them, even on a busy machine.
    h.sim.setFaults('GET patient/', { latencyMs: 150 });
    const ids = h.sim
      .exportState()
      .patients.slice(0, 40)
      .map((p) => Number(p.id));
    for (const id of ids.slice(0, 20)) h.sim.updatePatient(id, { color: 'before the step' });
    history.record('patient', ids.slice(0, 20));
    // Mid-run, the API's clock steps back ten minutes; changes then carry older stamps.
    // A full run, so it lasts long enough (page after page) for the step to fall in its middle:
    // once the first page of patients has been read, the clock steps back ten minutes and
    // patients on that page change, their new stamps ten minutes in the past.
    h.sim.resetRequestCounts();
    let stepped = false;
    let patientPagesAtStep = 0;
    const { result } = await whileRunning(
      h.sync({ full: true }),
      () => {
        if (stepped || (h.sim.requestCounts()['GET patient/'] ?? 0) < 1) return;
        stepped = true;
        patientPagesAtStep = h.sim.requestCounts()['GET patient/'] ?? 0;
        h.sim.setClockOffset(-10 * 60_000);
        for (const id of ids.slice(20, 40)) h.sim.updatePatient(id, { color: 'after the step' });
        history.record('patient', ids.slice(20, 40));
      },
      400,
    );
    expect(stepped).toBe(true);
    // The run read more patient pages after the step (so it saw Provet's clock after it).
    expect(h.sim.requestCounts()['GET patient/'] ?? 0).toBeGreaterThan(patientPagesAtStep + 1);
    h.sim.setFaults('GET patient/', null);
    expect(result.status).toBe('succeeded');
    h.sim.setFaults('global', null);
    // Later, the clock has moved on past where it stepped from, so the stored watermark does not
    // look ahead of it: only a watermark taken from the earliest time seen keeps those changes.
    h.sim.setClockOffset(60_000);
    const clean = await h.sync();
    expect(clean.status).toBe('succeeded');
    const changedAfterStep = h.sim
      .exportState()
      .patients.filter((p) => String(p.color).startsWith('after the step')).length;
    expect(changedAfterStep).toBeGreaterThan(5);
    const mirrored = await h.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM patients WHERE color LIKE 'after the step%'`,
    );
    expect(mirrored.rows[0]!.n).toBe(changedAfterStep);
    // Row regressions are expected here by stamp (the source's own stamps went back); convergence,
    // watermark safety and idempotence still hold.
    await h.db.pool.query('TRUNCATE row_regressions');
    await expectInvariants(h, history);
  });
});

describe('state reset', () => {
  it('a watermark set far in the past rereads everything and changes nothing', async () => {
    expect((await h.sync()).status).toBe('succeeded');
    await h.db.pool.query(`UPDATE sync_state SET watermark = '2001-01-01T00:00:00Z'`);
    const before = await rowVersions(h.db.pool);
    const outcome = await h.sync();
    expect(outcome.status).toBe('succeeded');
    if (outcome.status === 'succeeded') {
      expect(outcome.streams.clients?.fetched).toBe(h.sim.exportState().clients.length);
      expect(outcome.streams.clients?.written).toBe(0);
    }
    expect(await rowVersions(h.db.pool)).toEqual(before);
    await expectInvariants(h, history);
  });

  it('a watermark set in the future warns, reads everything, and repairs the watermark', async () => {
    expect((await h.sync()).status).toBe('succeeded');
    await h.db.pool.query(
      `UPDATE sync_state SET watermark = now() + interval '30 days' WHERE stream IN ('clients', 'patients')`,
    );
    await h.db.pool.query('TRUNCATE watermark_audit'); // the invariant concerns provet-sync's own writes, not this reset
    const id = Number(h.sim.exportState().clients[0]!.id);
    h.sim.updateClient(id, { lastname: 'Changed while the watermark was wrong' });
    history.record('client', [id]);
    const outcome = await h.sync();
    expect(outcome.status).toBe('succeeded');
    const wm = await h.db.pool.query<{ ahead: boolean }>(
      `SELECT bool_or(watermark > now() + interval '1 day') AS ahead FROM sync_state`,
    );
    expect(wm.rows[0]!.ahead).toBe(false);
    await expectInvariants(h, history);
  });
});
