// `provet-sync demo --fleet` as a person runs it, against a database of the test's own: three
// simulated installations registered, two worker processes converge them, one is killed with
// SIGKILL mid-run and the other lands the change made after, a query across the installations
// prints a row for each, the survivor stops on SIGTERM with 0, and the demo exits 0.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../faults/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const NAMES = ['helsinki', 'oslo', 'tallinn'];

let testDb: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  testDb = await createTestDatabase();
  env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: testDb.url };
});

afterAll(async () => {
  await testDb?.drop();
});

describe('demo --fleet', () => {
  it('converges three installations, fails over a killed worker, queries across them, exits 0', async () => {
    const exit = await startCli(['demo', '--fleet'], env).exited;
    const out = exit.stdout;
    expect(exit.code, `${out}\n${exit.stderr}`).toBe(0);

    for (const name of NAMES)
      expect(out).toMatch(
        new RegExp(`^ +\\d+\\.\\d s +${name} +(\\d+)/\\1 clients, (\\d+)/\\2 patients: converged$`, 'm'),
      );
    // Runs come every three seconds: the table may catch helsinki's next one under way.
    expect(out).toMatch(/^ {5}INSTALLATION +SCHEMA .*\n {5}helsinki +provet_demo_helsinki +\S+ +(succeeded|running) /m);
    expect(out).toMatch(
      /worker [12] \(pid \d+\) is running helsinki's sync \([1-9]\d* of 150 changes landed so far\): SIGKILL/,
    );
    const failover = /worker [12] \(pid \d+\) took the run over and landed it ([\d.]+) s after the kill/.exec(out);
    expect(failover, out).not.toBeNull();
    expect(Number(failover![1])).toBeLessThan(30);
    expect(out).toMatch(/recorded as failed: interrupted/);
    expect(out).toMatch(/SIGTERM to worker [12]: .*exited 0/);

    // The query's rows, one per installation, as the views still answer after the demo.
    const table = out
      .slice(out.indexOf('installation  clients  patients'))
      .split('\n')
      .slice(1, 1 + NAMES.length);
    const printed = table.map((line) => line.trim().split(/\s+/));
    expect(printed.map((r) => r[0])).toEqual(NAMES);
    const db = new pg.Client({ connectionString: testDb.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ installation: string; clients: string; patients: string }>(
        `SELECT c.installation, c.clients, p.patients
         FROM (SELECT installation, count(*) AS clients FROM provet_demo_all.active_clients GROUP BY 1) c
         JOIN (SELECT installation, count(*) AS patients FROM provet_demo_all.active_patients GROUP BY 1) p USING (installation)
         ORDER BY 1`,
      );
      expect(printed).toEqual(rows.map((r) => [r.installation, String(r.clients), String(r.patients)]));
      for (const r of rows) expect(Number(r.clients)).toBeGreaterThan(0);

      // The registry holds where each secret was (a file of the demo's temporary folder, gone now), not the secret.
      const registry = await db.query<{ name: string; secret_file: string | null; secret_env: string | null }>(
        'SELECT name, secret_file, secret_env FROM provet_demo_fleet.installations ORDER BY name',
      );
      expect(registry.rows.map((r) => r.name)).toEqual(NAMES);
      for (const r of registry.rows) {
        expect(r.secret_env).toBeNull();
        expect(r.secret_file).toMatch(new RegExp(`provet-sync-demo-fleet-.*/${r.name}\\.secret$`));
        expect(existsSync(r.secret_file!)).toBe(false);
      }
      const { rows: alive } = await db.query('SELECT pid FROM provet_demo_fleet.worker_heartbeats');
      expect(alive).toEqual([]);
    } finally {
      await db.end();
    }
  }, 90_000);

  it('refuses --serve with --fleet (usage, exit 2)', async () => {
    const exit = await startCli(['demo', '--fleet', '--serve'], env).exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('--serve does not apply to demo --fleet');
  });
});
