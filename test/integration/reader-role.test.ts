// The analysts' role, through the real CLI command: it reads the mirror's tables and views, and
// is refused writes and the bookkeeping (sync_rejects payloads, sync_state). Safe to run twice.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject, afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../support/daemon-process.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const ROLE = `analysts_${suffix}`;
const LOGIN = `metabase_${suffix}`;

let h: Harness;
let reader: pg.Client;

function grantReader(role: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'grant-reader', role], {
      env: cliEnv({ DATABASE_URL: h.testDatabase.url, LOG_LEVEL: 'warn' }),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function denied(sql: string): Promise<string> {
  try {
    await reader.query(sql);
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
  return 'allowed';
}

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 30, seed: 3 } });
  expectLanded(await h.sync());
  await h.db.pool.query(
    `INSERT INTO sync_rejects (stream, record_id, reason, payload) VALUES ('clients', '1', 'test', '{"secret":"x"}')`,
  );
  const first = await grantReader(ROLE);
  expect(first.code).toBe(0);
  expect(first.out).toMatch(new RegExp(`created role ${ROLE}`));
  const again = await grantReader(ROLE);
  expect(again.code).toBe(0);
  await h.db.pool.query(`CREATE ROLE ${LOGIN} LOGIN PASSWORD 'reader-pass' IN ROLE ${ROLE}`);
  const url = new URL(h.testDatabase.url);
  url.username = LOGIN;
  url.password = 'reader-pass';
  reader = new pg.Client({ connectionString: url.toString(), options: '-c search_path=provet' });
  await reader.connect();
});

afterAll(async () => {
  await reader?.end();
  await h?.close(); // drops the database, and with it every grant
  const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${LOGIN}`);
  await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
  await admin.end();
});

describe('grant-reader', () => {
  it('reads the views, the mirrored tables and the run history', async () => {
    const clients = await reader.query<{ n: string }>('SELECT count(*) AS n FROM active_clients');
    expect(Number(clients.rows[0]!.n)).toBeGreaterThan(0);
    const patients = await reader.query('SELECT species_name FROM active_patients LIMIT 1');
    expect(patients.rowCount).toBe(1);
    for (const table of [
      'clients',
      'patients',
      'phone_numbers',
      'custom_field_values',
      'species',
      'breeds',
      'sync_runs',
    ]) {
      await expect(reader.query(`SELECT * FROM ${table} LIMIT 1`)).resolves.toBeDefined();
    }
  });

  it('is refused writes and the bookkeeping tables (42501 insufficient_privilege)', async () => {
    expect(await denied(`UPDATE clients SET lastname = 'x'`)).toBe('42501');
    expect(await denied(`DELETE FROM patients`)).toBe('42501');
    expect(await denied(`INSERT INTO species (id, raw) VALUES (999999, '{}')`)).toBe('42501');
    expect(await denied('SELECT payload FROM sync_rejects')).toBe('42501');
    expect(await denied('SELECT * FROM sync_state')).toBe('42501');
    expect(await denied('SELECT * FROM sync_lease')).toBe('42501');
    expect(await denied('CREATE TABLE provet.mine (id int)')).toBe('42501');
  });

  it('refuses a role name that is not a plain identifier, with usage exit code 2', async () => {
    const bad = await grantReader('x; DROP TABLE clients');
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/lower-case SQL identifier/);
  });
});
