// The fleet's registry as an operator edits it: `provet-sync installations ...` in a child process
// against a real database. Checks what lands in the control schema, that bad input is refused with
// every problem listed and nothing changed, and that no secret reaches the output or the table.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../faults/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const CONTROL = 'fleet_control';
const SECRET = 'fi-client-secret-do-not-show-4f1c';
let testDb: TestDatabase;
let db: pg.Pool;
let dir: string;
let secretFile: string;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, max: 2 });
  dir = mkdtempSync(join(tmpdir(), 'provet-sync-installations-'));
  secretFile = join(dir, 'finland.secret');
  writeFileSync(secretFile, SECRET);
  writeFileSync(join(dir, 'norway.token'), 'no-token-0123456789');
});
afterAll(async () => {
  await db?.end();
  await testDb?.drop();
});

async function cli(...args: string[]) {
  const exit = await startCli(['installations', ...args], {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'warn',
    DATABASE_URL: testDb.url,
    PROVET_CONTROL_SCHEMA: CONTROL,
  }).exited;
  expect(exit.stdout + exit.stderr, 'no secret in the output').not.toContain(SECRET);
  return exit;
}

interface Listed {
  name: string;
  schema: string;
  schedule: string;
  reconcileSchedule: string | null;
  paused: boolean;
  auth: string;
  clientId: string | null;
  secretFrom: { file?: string; env?: string };
  baseUrl: string;
}

async function listed(): Promise<Listed[]> {
  const exit = await cli('list', '--json');
  expect(exit.code, exit.stderr).toBe(0);
  return JSON.parse(exit.stdout) as Listed[];
}

async function registryText(): Promise<string> {
  const { rows } = await db.query(`SELECT row_to_json(i)::text AS t FROM ${CONTROL}.installations i`);
  return rows.map((r: { t: string }) => r.t).join('\n');
}

describe('installations add, list, pause, resume', () => {
  it('adds an installation by reference to its secret, with the defaults, and never stores the secret', async () => {
    const added = await cli(
      'add',
      'finland',
      '--base-url',
      'https://provet.example/1234/api/0.1',
      '--client-id',
      'fi-client',
      '--client-secret-file',
      secretFile,
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('added finland (mirror schema provet_finland');
    expect(await listed()).toEqual([
      expect.objectContaining({
        name: 'finland',
        baseUrl: 'https://provet.example/1234/api/0.1/',
        auth: 'oauth',
        clientId: 'fi-client',
        secretFrom: { file: secretFile },
        schema: 'provet_finland',
        schedule: '*/5 * * * *',
        reconcileSchedule: '17 3 * * *',
        paused: false,
      }),
    ]);
    expect(await registryText()).not.toContain(SECRET);
    const table = await cli('list');
    expect(table.stdout).toMatch(/^NAME\s+SCHEMA\s+SCHEDULE/);
    expect(table.stdout).toContain(`file ${secretFile}`);
  });

  it('refuses bad input with every problem listed, exit 2, and changes nothing', async () => {
    const before = await listed();
    const refused = await cli(
      'add',
      'sweden',
      '--base-url',
      'ftp://provet.example/',
      '--client-secret-file',
      join(dir, 'missing.secret'),
      '--schema',
      'provet_finland',
      '--schedule',
      'every five minutes',
    );
    expect(refused.code).toBe(2);
    for (const problem of [
      'baseUrl: expected an http:// or https:// URL',
      'schedule: expected a cron expression',
      'clientId is required with a client secret',
      `clientSecretFile ${join(dir, 'missing.secret')} does not exist`,
      'schema provet_finland is already used by finland',
    ])
      expect(refused.stderr).toContain(problem);
    expect(refused.stderr).toContain('5 problems, nothing changed');
    expect(await listed()).toEqual(before);

    const twice = await cli('add', 'finland', '--base-url', 'https://x.example/', '--api-token-file', secretFile);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('an installation named finland exists');
    const reserved = await cli(
      'add',
      'grp',
      '--base-url',
      'https://x.example/',
      '--api-token-file',
      secretFile,
      '--schema',
      'provet_all',
    );
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toContain('schema provet_all holds the views across installations');
    expect(await listed()).toEqual(before);
  });

  it('refuses a secret path that is not a file, an empty secret file, an unknown action or flag', async () => {
    const refused = await cli('add', 'denmark', '--base-url', 'https://x.example/', '--api-token-file', dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`apiTokenFile ${dir} is not a file`);
    const empty = join(dir, 'empty.secret');
    writeFileSync(empty, '');
    const blank = await cli('add', 'denmark', '--base-url', 'https://x.example/', '--api-token-file', empty);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain(`apiTokenFile ${empty} is empty`);
    expect((await cli('rename', 'finland')).code).toBe(2);
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('apply FILE [--dry-run]');
    const flag = await cli('add', 'denmark', '--base-url', 'https://x.example/', '--password', 'x');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--password'");
  });

  it('pauses and resumes; an unknown name is exit 2', async () => {
    expect((await cli('pause', 'finland')).code).toBe(0);
    expect((await listed())[0]!.paused).toBe(true);
    expect((await cli('resume', 'finland')).code).toBe(0);
    expect((await listed())[0]!.paused).toBe(false);
    const unknown = await cli('pause', 'atlantis');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no installation named atlantis');
  });
});

describe('installations apply', () => {
  const file = () => join(dir, 'fleet.yaml');

  it('converges the registry to the file, reporting what it added, changed and removed', async () => {
    expect(
      (await cli('add', 'estonia', '--base-url', 'https://x.example/9/api/0.1/', '--api-token-env', 'EE_TOKEN')).code,
    ).toBe(0);
    expect((await cli('pause', 'finland')).code).toBe(0);
    writeFileSync(
      file(),
      `installations:
  - name: finland
    baseUrl: https://provet.example/1234/api/0.1/
    clientId: fi-client
    clientSecretFile: ${secretFile}
    schedule: "*/10 * * * *"
  - name: norway
    baseUrl: https://provet.example/77/api/0.1/
    apiTokenFile: ${join(dir, 'norway.token')}
    schema: provet_no
    reconcileSchedule: "off"
`,
    );
    const dry = await cli('apply', file(), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('dry run: nothing changed');
    expect((await listed()).map((i) => i.name)).toEqual(['estonia', 'finland']);

    const applied = await cli('apply', file());
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout.trim().split('\n')).toEqual([
      'removed estonia (its mirror stays in schema provet_estonia)',
      'changed finland: schedule',
      'added norway (mirror schema provet_no)',
    ]);
    const after = await listed();
    expect(after.map((i) => [i.name, i.schema, i.schedule, i.reconcileSchedule, i.paused])).toEqual([
      ['finland', 'provet_finland', '*/10 * * * *', '17 3 * * *', true], // the file is silent on paused: kept
      ['norway', 'provet_no', '*/5 * * * *', null, false],
    ]);

    const again = await cli('apply', file());
    expect(again.stdout.trim().split('\n')).toEqual(['unchanged finland', 'unchanged norway']);
  });

  it('refuses a bad file as a whole: every problem listed, nothing changed', async () => {
    const before = await listed();
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify([
        {
          name: 'finland',
          baseUrl: 'https://provet.example/1234/api/0.1/',
          clientId: 'fi',
          clientSecretFile: secretFile,
        },
        { name: 'Bad Name', baseUrl: 42, apiTokenEnv: 'X', sched: '* * * * *' },
        { name: 'lapland', baseUrl: 'https://x.example/', apiTokenEnv: 'X', schema: 'provet_finland' },
      ]),
    );
    const refused = await cli('apply', bad);
    expect(refused.code).toBe(2);
    for (const problem of [
      'installations[1] (Bad Name): unknown field sched',
      'installations[1] (Bad Name): name: expected a slug',
      'installations[1] (Bad Name): baseUrl: Invalid input: expected string',
      'installations[2] (lapland): schema provet_finland is already used by finland',
    ])
      expect(refused.stderr).toContain(problem);
    expect(await listed()).toEqual(before);

    writeFileSync(bad, 'installations: [unclosed');
    const notYaml = await cli('apply', bad);
    expect(notYaml.code).toBe(2);
    expect(notYaml.stderr).toContain('not YAML or JSON');
    expect(await listed()).toEqual(before);
  });
});

describe('installations remove', () => {
  it("keeps the mirror's schema unless --drop-schema", async () => {
    await db.query('CREATE SCHEMA provet_no; CREATE TABLE provet_no.clients (id bigint)');
    await db.query('CREATE SCHEMA provet_finland; CREATE TABLE provet_finland.clients (id bigint)');
    const kept = await cli('remove', 'norway');
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain('its mirror stays in schema provet_no');
    const dropped = await cli('remove', 'finland', '--drop-schema');
    expect(dropped.code, dropped.stderr).toBe(0);
    const { rows } = await db.query<{ nspname: string }>(
      "SELECT nspname FROM pg_namespace WHERE nspname IN ('provet_no', 'provet_finland')",
    );
    expect(rows.map((r) => r.nspname)).toEqual(['provet_no']);
    expect(await listed()).toEqual([]);
    expect((await cli('remove', 'finland')).code).toBe(2);
  });
});
