// grant-reader ROLE --no-identities: after a sync against the simulator, a login role that is a
// member of the granted role reads the identity-free views (and the analysts' example queries, as
// docs/analysts.md gives them for it) and nothing of the mirror's own schema, sees no identifying
// column or value, and counts the same rows. Re-granting changes nothing; a role granted full read
// before loses it; a view built before a column was classified identifying is built again without it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject, afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IDENTITY_FREE_RELATIONS,
  dropIdentityFreeViews,
  hiddenColumns,
  identityFreeSchemaName,
} from '../../src/db/identity-free-views.js';
import { grantIdentityFreeReader, grantReader } from '../../src/db/roles.js';
import { classifiedColumns, MIRRORED_TABLES, PERSONAL_DATA } from '../../src/db/schema.js';
import { cliEnv } from '../support/daemon-process.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const ROLE = `trends_${suffix}`;
const LOGIN = `trends_login_${suffix}`;
const FORMER_FULL = `former_full_${suffix}`;
const FORMER_FULL_LOGIN = `former_full_login_${suffix}`;
const OTHER = `other_trends_${suffix}`;
const FLEET_ROLE = `fleet_trends_${suffix}`;
const ROLES = [LOGIN, FORMER_FULL_LOGIN, ROLE, FORMER_FULL, OTHER, FLEET_ROLE];
const MIRROR = 'provet';
const VIEWS = 'provet_no_identities';
const PASSWORD = 'reader-pass';

let h: Harness;
let reader: pg.Client;
let cliOutput = '';

function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: cliEnv({ DATABASE_URL: h.testDatabase.url, LOG_LEVEL: 'warn', PROVET_CONTROL_SCHEMA: 'fleet_control' }),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

async function loginAs(login: string, searchPath: string): Promise<pg.Client> {
  const url = new URL(h.testDatabase.url);
  url.username = login;
  url.password = PASSWORD;
  const client = new pg.Client({ connectionString: url.toString(), options: `-c search_path=${searchPath}` });
  await client.connect();
  return client;
}

/** The query's SQLSTATE, or 'allowed'. */
async function outcome(client: pg.Client, sql: string): Promise<string> {
  try {
    await client.query(sql);
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
  return 'allowed';
}

const identityColumns = (table: string) =>
  classifiedColumns(table as keyof typeof PERSONAL_DATA)
    .filter((c) => c.class === 'identity')
    .map((c) => c.name);

/** The SQL statements of a docs/analysts.md section's ```sql blocks, comments removed. */
function docQueries(heading: string): string[] {
  const docs = readFileSync(new URL('../../docs/analysts.md', import.meta.url), 'utf8');
  const start = docs.indexOf(heading);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const end = docs.indexOf('\n## ', start + heading.length);
  const section = docs.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.split(';'))
    .map((q) => q.replace(/--.*$/gm, '').trim())
    .filter(Boolean);
}

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 40, seed: 5 } });
  expectLanded(await h.sync());
  // Rows the active views must leave out, so that their counts say something.
  await h.db.pool.query(
    `UPDATE clients SET deleted_at = now() WHERE id IN (SELECT id FROM clients ORDER BY id LIMIT 2)`,
  );
  await h.db.pool.query(
    `UPDATE patients SET archived = true WHERE id IN (SELECT id FROM patients ORDER BY id LIMIT 3)`,
  );
  const granted = await cli('grant-reader', ROLE, '--no-identities');
  expect(granted.code, granted.err).toBe(0);
  cliOutput = granted.out;
  await h.db.pool.query(`CREATE ROLE ${LOGIN} LOGIN PASSWORD '${PASSWORD}' IN ROLE ${ROLE}`);
  reader = await loginAs(LOGIN, VIEWS);
});

afterAll(async () => {
  await reader?.end();
  await h?.close(); // drops the database, and with it every grant
  const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await admin.connect();
  for (const role of ROLES) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

describe('grant-reader --no-identities', () => {
  it('says what the role reads, what it hides and the search_path to use', () => {
    expect(cliOutput).toMatch(new RegExp(`created role ${ROLE}`));
    expect(cliOutput).toContain(`in schema ${VIEWS}, and nothing in schema ${MIRROR} itself`);
    expect(cliOutput).toContain(`search_path = ${VIEWS}`);
    expect(cliOutput).toMatch(/clients \(title, firstname, lastname, organization_name, email, street_address, raw\)/);
  });

  it('every text and JSON column the migrations made in the mirrored tables is classified', async () => {
    const { rows } = await h.db.pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = ANY($2::text[])
         AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')`,
      [MIRROR, MIRRORED_TABLES],
    );
    expect(rows.length).toBeGreaterThan(20);
    const unclassified = rows.filter(
      (r) =>
        !classifiedColumns(r.table_name as keyof typeof PERSONAL_DATA).some(
          (c) => c.name === r.column_name && ['identity', 'personal', 'none'].includes(c.class),
        ),
    );
    expect(unclassified).toEqual([]);
  });

  it('is refused every base table, and every identifying column of them (42501)', async () => {
    const failures: string[] = [];
    for (const table of [...MIRRORED_TABLES, 'active_clients', 'active_patients', 'sync_runs', 'sync_rejects']) {
      const got = await outcome(reader, `SELECT * FROM ${MIRROR}.${table} LIMIT 1`);
      if (got !== '42501') failures.push(`SELECT * FROM ${table}: ${got}`);
    }
    for (const table of MIRRORED_TABLES) {
      for (const column of identityColumns(table)) {
        const got = await outcome(reader, `SELECT ${column} FROM ${MIRROR}.${table} LIMIT 1`);
        if (got !== '42501') failures.push(`SELECT ${column} FROM ${table}: ${got}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await outcome(reader, `CREATE VIEW ${VIEWS}.mine AS SELECT 1`)).toBe('42501');
    expect(await outcome(reader, `DELETE FROM ${VIEWS}.clients`)).toBe('42501');
  });

  it('its views have no identifying column, and no identifying value appears in their rows', async () => {
    const { rows: columns } = await h.db.pool.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY ordinal_position`,
      [VIEWS],
    );
    expect([...new Set(columns.map((c) => c.table_name))].sort()).toEqual([...IDENTITY_FREE_RELATIONS].sort());
    const base = (view: string) =>
      view === 'active_clients' ? 'clients' : view === 'active_patients' ? 'patients' : view;
    const shown = columns.filter(
      (c) =>
        MIRRORED_TABLES.includes(base(c.table_name)) && identityColumns(base(c.table_name)).includes(c.column_name),
    );
    expect(shown).toEqual([]);
    // Every column that is not identifying is there, for counts by place, age and the like.
    for (const table of MIRRORED_TABLES) {
      const expected = classifiedColumns(table as keyof typeof PERSONAL_DATA)
        .filter((c) => c.class !== 'identity')
        .map((c) => c.name);
      expect(columns.filter((c) => c.table_name === table).map((c) => c.column_name)).toEqual(expected);
    }
    // Distinctive identifying values of the mirror, none of which a view row may contain.
    const { rows: secrets } = await h.db.pool.query<{ value: string }>(
      `SELECT email AS value FROM clients WHERE email <> ''
       UNION SELECT street_address FROM clients WHERE length(street_address) > 5
       UNION SELECT phone_number FROM phone_numbers WHERE length(phone_number) > 5
       UNION SELECT microchip FROM patients WHERE length(microchip) > 5`,
    );
    expect(secrets.filter((s) => s.value.includes('@')).length).toBeGreaterThan(10);
    for (const view of IDENTITY_FREE_RELATIONS) {
      const { rows } = await reader.query<{ row: string }>(`SELECT row_to_json(v)::text AS row FROM ${view} v`);
      const text = rows.map((r) => r.row).join('\n');
      const leaked = secrets.filter((s) => text.includes(s.value));
      expect(leaked, view).toEqual([]);
    }
  });

  it('counts through the views equal counts on the base tables', async () => {
    for (const relation of IDENTITY_FREE_RELATIONS) {
      const viaView = await reader.query<{ n: string }>(`SELECT count(*) AS n FROM ${relation}`);
      const viaBase = await h.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${MIRROR}.${relation}`);
      expect(Number(viaView.rows[0]!.n), relation).toBe(Number(viaBase.rows[0]!.n));
      if (relation !== 'custom_field_values') expect(Number(viaBase.rows[0]!.n), relation).toBeGreaterThan(0);
    }
    // The active views leave out what the mirror's own leave out: the same ids.
    for (const view of ['active_clients', 'active_patients']) {
      const viaView = await reader.query<{ ids: string }>(
        `SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM ${view}`,
      );
      const viaBase = await h.db.pool.query<{ ids: string }>(
        `SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM ${MIRROR}.${view}`,
      );
      expect(viaView.rows[0]!.ids, view).toBe(viaBase.rows[0]!.ids);
    }
  });

  it("runs the analysts' example queries as docs/analysts.md gives them for it", async () => {
    const queries = docQueries('## Without identities');
    expect(queries.length).toBe(4);
    for (const q of queries) expect((await reader.query(q)).rowCount, q).toBeGreaterThan(0);
    // The mirror's own examples run unchanged where they name no identifying column; the one that
    // lists names and phone numbers is refused as naming columns that are not there.
    const original = docQueries('## Example queries');
    expect(original.length).toBe(3);
    const results = [];
    for (const q of original) results.push(await outcome(reader, q));
    expect(results).toEqual(['allowed', 'allowed', '42703']);
  });

  it('is idempotent: granting again changes no privilege, created: false', async () => {
    const acl = () =>
      h.db.pool.query<{ name: string; acl: string | null }>(
        `SELECT n.nspname || '.' || c.relname AS name, c.relacl::text AS acl FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ($1, $2) ORDER BY 1`,
        [MIRROR, VIEWS],
      );
    const before = (await acl()).rows;
    const again = await grantIdentityFreeReader(h.db.pool, MIRROR, ROLE);
    expect(again).toEqual({ created: false, viewSchema: VIEWS, stillReadable: [] });
    expect((await acl()).rows).toEqual(before);
    expect((await reader.query('SELECT count(*) FROM active_clients')).rowCount).toBe(1);
  });

  it('a role granted full read before and re-granted with --no-identities loses the base tables', async () => {
    await grantReader(h.db.pool, MIRROR, FORMER_FULL);
    await h.db.pool.query(`CREATE ROLE ${FORMER_FULL_LOGIN} LOGIN PASSWORD '${PASSWORD}' IN ROLE ${FORMER_FULL}`);
    const former = await loginAs(FORMER_FULL_LOGIN, MIRROR);
    try {
      expect(await outcome(former, 'SELECT email FROM clients LIMIT 1')).toBe('allowed');
      const grant = await grantIdentityFreeReader(h.db.pool, MIRROR, FORMER_FULL);
      expect(grant.stillReadable).toEqual([]);
      for (const table of [...MIRRORED_TABLES, 'active_clients', 'active_patients', 'sync_runs'])
        expect(await outcome(former, `SELECT * FROM ${MIRROR}.${table} LIMIT 1`), table).toBe('42501');
      expect(await outcome(former, `SELECT id, city FROM ${VIEWS}.clients LIMIT 1`)).toBe('allowed');
    } finally {
      await former.end();
    }
  });

  it('names what the role can still read through a role it belongs to', async () => {
    await h.db.pool.query(`CREATE ROLE ${OTHER} NOLOGIN`);
    await grantReader(h.db.pool, MIRROR, OTHER);
    await h.db.pool.query(`GRANT ${OTHER} TO ${ROLE}`);
    try {
      const grant = await grantIdentityFreeReader(h.db.pool, MIRROR, ROLE);
      expect(grant.stillReadable).toEqual(expect.arrayContaining(['clients', 'patients', 'active_clients']));
    } finally {
      await h.db.pool.query(`REVOKE ${OTHER} FROM ${ROLE}`);
    }
    expect((await grantIdentityFreeReader(h.db.pool, MIRROR, ROLE)).stillReadable).toEqual([]);
  });

  it('a view built when a column was not yet identifying is built again without it, every reader kept', async () => {
    // As an older release would have left it: clients with every column.
    await h.db.pool.query(`DROP VIEW ${VIEWS}.active_clients, ${VIEWS}.clients`);
    await h.db.pool.query(`CREATE VIEW ${VIEWS}.clients AS SELECT * FROM ${MIRROR}.clients`);
    await h.db.pool.query(`CREATE VIEW ${VIEWS}.active_clients AS SELECT * FROM ${VIEWS}.clients`);
    // Two grants at once (another role's and this one's): serialised, both land.
    await Promise.all([
      grantIdentityFreeReader(h.db.pool, MIRROR, OTHER),
      grantIdentityFreeReader(h.db.pool, MIRROR, FORMER_FULL),
    ]);
    expect(await outcome(reader, 'SELECT email FROM clients')).toBe('42703');
    expect(await outcome(reader, 'SELECT email FROM active_clients')).toBe('42703');
    expect((await reader.query('SELECT count(*) AS n FROM active_clients')).rowCount).toBe(1);
  });

  it('refuses --group and a schema name too long for the views, with usage exit code 2', async () => {
    expect(() => identityFreeSchemaName('s'.repeat(50))).toThrow(/at most 49 characters/);
    expect(identityFreeSchemaName('s'.repeat(49))).toHaveLength(63);
    const group = await cli('grant-reader', ROLE, '--no-identities', '--group');
    expect(group.code).toBe(2);
    expect(group.err).toMatch(/--no-identities does not apply to --group/);
    expect(hiddenColumns().find((t) => t.table === 'phone_numbers')?.columns).toContain('phone_number');
  });
});

describe("a schema of the views' name that is not theirs", () => {
  it('is neither written into nor dropped: another mirror named <mirror>_no_identities stays whole', async () => {
    // A mirror called "clinic" and an unrelated schema called "clinic_no_identities" holding data.
    await h.db.pool.query(`CREATE SCHEMA clinic; CREATE SCHEMA clinic_no_identities;
      CREATE TABLE clinic_no_identities.clients (id bigint PRIMARY KEY, lastname text);
      INSERT INTO clinic_no_identities.clients VALUES (1, 'Keep me')`);
    try {
      await expect(grantIdentityFreeReader(h.db.pool, 'clinic', OTHER)).rejects.toThrow(
        /schema clinic_no_identities already exists and holds tables or views that are not provet-sync's/,
      );
      const client = await h.db.pool.connect();
      try {
        await dropIdentityFreeViews(client, 'clinic');
      } finally {
        client.release();
      }
      const kept = await h.db.pool.query('SELECT lastname FROM clinic_no_identities.clients');
      expect(kept.rows).toEqual([{ lastname: 'Keep me' }]);
    } finally {
      await h.db.pool.query('DROP SCHEMA clinic_no_identities CASCADE; DROP SCHEMA clinic CASCADE');
    }
  });
});

describe('grant-reader --no-identities in fleet mode', () => {
  it("--installation NAME: that installation's identity-free views, nothing of its mirror", async () => {
    const secretFile = join(mkdtempSync(join(tmpdir(), 'provet-sync-no-identities-')), 'north.secret');
    writeFileSync(secretFile, 'north-secret');
    const added = await cli(
      'installations',
      'add',
      'north',
      '--base-url',
      'https://provet.example/1/api/0.1',
      '--client-id',
      'north',
      '--client-secret-file',
      secretFile,
    );
    expect(added.code, added.err).toBe(0);
    // First the views across installations, which show every column: --no-identities takes them away.
    const group = await cli('grant-reader', FLEET_ROLE, '--group');
    expect(group.code, group.err).toBe(0);
    const granted = await cli('grant-reader', FLEET_ROLE, '--no-identities', '--installation', 'north');
    expect(granted.code, granted.err).toBe(0);
    expect(granted.out).toContain('in schema provet_north_no_identities, and nothing in schema provet_north itself');
    expect(granted.out).toContain(`${FLEET_ROLE} may not read the views across installations (schema provet_all)`);
    const privileges = await h.db.pool.query<{
      views: boolean;
      mirror: boolean;
      email: boolean;
      mirrorSchema: boolean;
    }>(
      `SELECT has_table_privilege($1, 'provet_north_no_identities.active_clients', 'SELECT') AS views,
              has_table_privilege($1, 'provet_north.clients', 'SELECT') AS mirror,
              has_column_privilege($1, 'provet_north.clients', 'email', 'SELECT') AS email,
              has_schema_privilege($1, 'provet_north', 'USAGE') AS "mirrorSchema",
              has_schema_privilege($1, 'provet_all', 'USAGE') AS "groupSchema",
              (SELECT count(*) FROM pg_default_acl d WHERE array_to_string(d.defaclacl, ',') LIKE '%' || $1 || '=%')::int AS "groupDefaults"`,
      [FLEET_ROLE],
    );
    expect(privileges.rows[0]).toEqual({
      views: true,
      mirror: false,
      email: false,
      mirrorSchema: false,
      groupSchema: false,
      groupDefaults: 0,
    });
    const unknown = await cli('grant-reader', FLEET_ROLE, '--no-identities', '--installation', 'south');
    expect(unknown.code).toBe(2);
    // Removing the installation with its mirror removes its identity-free views too.
    const removed = await cli('installations', 'remove', 'north', '--drop-schema');
    expect(removed.code, removed.err).toBe(0);
    const left = await h.db.pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'provet_north%'`);
    expect(left.rows).toEqual([]);
  });
});
