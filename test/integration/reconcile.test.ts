// Reconciliation against the simulator and a real database: hard deletes get deleted_at, drift
// the poll cannot see is repaired, and a mirror that agrees costs a handful of requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../src/sync/reconcile.js';
import type { RunOutcome } from '../../src/sync/run-lifecycle.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

function reconcile(): Promise<RunOutcome> {
  return runReconcile({ pool: h.db.pool, schema: h.db.schema, provet: h.provet, logger: h.logger, pageSize: 100 });
}

async function row(table: 'clients' | 'patients', id: number) {
  const result = await h.db.pool.query<{ deleted_at: string | null; lastname?: string; modified: string }>(
    `SELECT * FROM ${table} WHERE id = $1`,
    [id],
  );
  return result.rows[0];
}

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 400, seed: 11 } });
  expectLanded(await h.sync());
});
afterAll(async () => h?.close());

describe('reconcile', () => {
  it('costs a few list requests when the mirror agrees, and records the run', async () => {
    h.sim.resetRequestCounts();
    const outcome = await reconcile();
    expect(outcome.status).toBe('succeeded');
    const counts = h.sim.requestCounts();
    // id__lt and id__gte probes, modified__gt probe, whole range, its modified check, tail; per stream
    expect(counts['GET client/']).toBeLessThanOrEqual(6);
    expect(counts['GET patient/']).toBeLessThanOrEqual(6);
    const run = await h.db.pool.query<{ kind: string; status: string; records_written: number }>(
      `SELECT kind, status, records_written FROM sync_runs WHERE id = $1`,
      [outcome.status === 'locked' ? -1 : outcome.runId],
    );
    expect(run.rows[0]).toMatchObject({ kind: 'reconcile', status: 'succeeded', records_written: 0 });
  });

  it('marks a client deleted in Provet, and its patients, with deleted_at; the views leave them out', async () => {
    const victim = h.sim.exportState().clients[123] as { id: number; patients: string[] };
    const patientIds = h.sim
      .exportState()
      .patients.filter((p) => String(p.client).endsWith(`/client/${victim.id}/`))
      .map((p) => p.id as number);
    expect(patientIds.length).toBeGreaterThan(0);
    h.sim.deleteClient(victim.id);
    const outcome = await reconcile();
    expect(outcome.status).toBe('succeeded');
    expect((await row('clients', victim.id))?.deleted_at).not.toBeNull();
    for (const id of patientIds) expect((await row('patients', id))?.deleted_at).not.toBeNull();
    const inView = await h.db.pool.query('SELECT 1 FROM active_clients WHERE id = $1', [victim.id]);
    expect(inView.rowCount).toBe(0);
    if (outcome.status === 'locked') throw new Error('locked');
    expect(outcome.streams.clients).toMatchObject({ markedDeleted: 1 });
    expect(outcome.streams.patients?.markedDeleted).toBe(patientIds.length);
    // A second pass finds nothing more to do.
    const again = await reconcile();
    if (again.status === 'locked') throw new Error('locked');
    expect(again.streams.clients?.markedDeleted).toBe(0);
    expect(again.streams.clients?.written).toBe(0);
  });

  it('repairs drift: a change the poll missed, a row lost from the mirror, a stale row, a wrong deleted_at', async () => {
    const clients = h.sim.exportState().clients as { id: number; lastname: string; modified: string }[];
    const [missed, lost, stale, wronglyDeleted] = [clients[10]!, clients[200]!, clients[300]!, clients[350]!];
    h.sim.updateClient(missed.id, { lastname: 'Missedbythepoll' });
    await h.db.pool.query('DELETE FROM clients WHERE id = $1', [lost.id]);
    await h.db.pool.query(
      `UPDATE clients SET lastname = 'Stale', modified = modified - interval '1 day' WHERE id = $1`,
      [stale.id],
    );
    await h.db.pool.query('UPDATE clients SET deleted_at = now() WHERE id = $1', [wronglyDeleted.id]);

    const outcome = await reconcile();
    expect(outcome.status).toBe('succeeded');
    expect((await row('clients', missed.id))?.lastname).toBe('Missedbythepoll');
    expect((await row('clients', lost.id))?.lastname).toBe(lost.lastname);
    expect((await row('clients', stale.id))?.lastname).toBe(stale.lastname);
    expect((await row('clients', wronglyDeleted.id))?.deleted_at).toBeNull();
    if (outcome.status === 'locked') throw new Error('locked');
    expect(outcome.streams.clients?.undeleted).toBe(1);
  });

  it('brings a deleted record back when Provet has it again (deleted_at cleared by any write from Provet)', async () => {
    const id = (h.sim.exportState().clients[5] as { id: number }).id;
    await h.db.pool.query(`UPDATE clients SET deleted_at = now() WHERE id = $1`, [id]);
    h.sim.updateClient(id, { city: 'Reappeared' });
    expectLanded(await h.sync());
    const back = await h.db.pool.query<{ deleted_at: string | null; city: string }>(
      'SELECT deleted_at, city FROM clients WHERE id = $1',
      [id],
    );
    expect(back.rows[0]).toEqual({ deleted_at: null, city: 'Reappeared' });
  });

  it('says locked and does nothing while a run holds the lock', async () => {
    const { tryAcquireRunLock } = await import('../../src/db/run-lock.js');
    const lock = await tryAcquireRunLock(h.db.pool, h.db.schema);
    try {
      expect((await reconcile()).status).toBe('locked');
    } finally {
      await lock?.release();
    }
  });
});
