// The sync's database role needs the TEMPORARY privilege (changed records are merged through
// temporary staging tables); without it, every command that writes the mirror stops at startup
// with the GRANT that fixes it, instead of failing on the first page that updates anything.
// Commands that only read (status) do not need it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { cliEnv } from '../support/daemon-process.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const ROLE = `sync_${randomBytes(4).toString('hex')}`;
const PASSWORD = 'sync-role-pass';

let database: TestDatabase;
let admin: pg.Client;

function runAs(url: string, command: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, command], {
      env: cliEnv({ DATABASE_URL: url, LOG_LEVEL: 'warn' }),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query(`GRANT CREATE ON DATABASE ${database.name} TO ${ROLE}`);
  // PUBLIC holds TEMPORARY by default; a hardened database takes it away.
  await admin.query(`REVOKE TEMPORARY ON DATABASE ${database.name} FROM PUBLIC`);
});

afterAll(async () => {
  await admin?.end();
  await database?.drop();
  const cleanup = new pg.Client({ connectionString: database.url.replace(`/${database.name}`, '/postgres') });
  await cleanup.connect();
  await cleanup.query(`DROP ROLE IF EXISTS ${ROLE}`).finally(() => cleanup.end());
});

describe('a sync role without the TEMPORARY privilege', () => {
  it('is stopped at startup with the GRANT that fixes it, and runs once granted', async () => {
    const url = new URL(database.url);
    url.username = ROLE;
    url.password = PASSWORD;
    const refused = await runAs(url.toString(), 'migrate');
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('DATABASE_PRIVILEGE_MISSING');
    expect(refused.out).toContain(`GRANT TEMPORARY ON DATABASE "${database.name}" TO "${ROLE}"`);
    expect(refused.out).not.toContain(PASSWORD);

    // Reading the mirror needs no temporary tables: status works without the privilege.
    const status = await runAs(url.toString(), 'status');
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/clients/);

    await admin.query(`GRANT TEMPORARY ON DATABASE ${database.name} TO ${ROLE}`);
    const granted = await runAs(url.toString(), 'migrate');
    expect(granted.code).toBe(0);
  });
});
