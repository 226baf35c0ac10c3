// Fleet mode's reconciliation: each installation on its own RECONCILE schedule, run by a worker
// as the daemon runs it. A client deleted at the source (a hard delete, which polling by
// `modified` cannot see) gets deleted_at in the mirror by the installation's reconciliation,
// while its syncs are not due; an installation with reconciliation off gets none.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startCli, type Running } from '../faults/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/daemon-process.js';

let sims: Simulator[] = [];
let testDb: TestDatabase;
let db: pg.Pool;
let worker: Running;

beforeAll(async () => {
  sims = [
    await startSimulator({ clients: 30, seed: 31, provetId: '431' }),
    await startSimulator({ clients: 30, seed: 32, provetId: '432' }),
  ];
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, max: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'provet-sync-fleet-reconcile-'));
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    DATABASE_URL: testDb.url,
    PROVET_CONTROL_SCHEMA: 'reconcile_ctl',
  };
  const installations: [name: string, reconcile: string][] = [
    ['checked', '*/2 * * * * *'],
    ['unchecked', 'off'],
  ];
  for (const [i, [name, reconcile]] of installations.entries()) {
    const sim = sims[i]!;
    writeFileSync(join(dir, `${name}.secret`), sim.clientSecret);
    const added = await startCli(
      [
        'installations',
        'add',
        name,
        '--base-url',
        sim.baseUrl,
        '--client-id',
        sim.clientId,
        '--client-secret-file',
        join(dir, `${name}.secret`),
        '--schema',
        name,
        '--schedule',
        '0 0 1 1 *', // the first sync at once, then not before New Year
        '--reconcile-schedule',
        reconcile,
      ],
      env,
    ).exited;
    expect(added.code, added.stderr).toBe(0);
  }
  worker = startCli(['worker'], { ...env, HTTP_PORT: '0', WORKER_TICK_SECONDS: '0.5' });
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) worker.child.kill('SIGTERM');
  const exit = await worker?.exited;
  await db?.end();
  await testDb?.drop();
  for (const sim of sims) await sim.close();
  expect(exit?.code, exit?.stderr).toBe(0);
});

const firstSync = (schema: string) =>
  eventually(
    async () =>
      (
        await db
          .query(`SELECT 1 FROM ${schema}.sync_runs WHERE kind = 'full' AND status = 'succeeded'`)
          .catch(() => null)
      )?.rowCount,
    30_000,
    `the first sync of ${schema}`,
  );

describe('fleet reconciliation', () => {
  it("marks a client deleted at the source on the installation's own reconcile schedule, and only there", async () => {
    await firstSync('checked');
    await firstSync('unchecked');
    const gone = [0, 1].map((i) => Number(sims[i]!.exportState().clients[7]!.id));
    sims[0]!.deleteClient(gone[0]!);
    sims[1]!.deleteClient(gone[1]!);
    await eventually(
      async () =>
        (await db.query(`SELECT 1 FROM checked.clients WHERE id = $1 AND deleted_at IS NOT NULL`, [gone[0]])).rowCount,
      20_000,
      'the deletion to be found by reconciliation',
    );
    // The purge follows the reconciliation in the same job (nothing old enough to erase yet).
    await eventually(
      async () => (await db.query(`SELECT 1 FROM checked.sync_runs WHERE kind = 'purge'`)).rowCount,
      20_000,
      'a purge after the reconciliation',
    );
    const runs = await db.query<{ kind: string }>(`SELECT DISTINCT kind FROM checked.sync_runs ORDER BY 1`);
    expect(runs.rows.map((r) => r.kind)).toEqual(['full', 'purge', 'reconcile']);
    // The other installation, reconciliation off: its deleted client is still there, unflagged.
    const other = await db.query(`SELECT deleted_at FROM unchecked.clients WHERE id = $1`, [gone[1]]);
    expect(other.rows).toEqual([{ deleted_at: null }]);
    const otherRuns = await db.query(`SELECT 1 FROM unchecked.sync_runs WHERE kind IN ('reconcile', 'purge')`);
    expect(otherRuns.rowCount).toBe(0);
  });
});
