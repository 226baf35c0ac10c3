// The purge against the simulator and a real database: a client deleted in Provet is found by
// reconciliation, kept whole during its retention period, then erased (a tombstone row without
// personal data; its phone numbers, custom values and patients likewise), while live and
// archived data, and the views over them, do not change. Refused payloads have their own period.
// `purge --dry-run` and `purge` are also run as the CLI a person runs.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryAcquireRunLock } from '../../src/db/run-lock.js';
import { classifiedColumns } from '../../src/db/schema.js';
import { dryRunPurge, runPurge } from '../../src/sync/purge.js';
import { runReconcile } from '../../src/sync/reconcile.js';
import type { RunOutcome } from '../../src/sync/run-lifecycle.js';
import { startDaemon } from '../support/daemon-process.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const RETENTION = { deletedRetentionDays: 30, rejectsRetentionDays: 30 };

let h: Harness;

function reconcile(): Promise<RunOutcome> {
  return runReconcile({ pool: h.db.pool, schema: h.db.schema, provet: h.provet, logger: h.logger, pageSize: 100 });
}

function purge(settings = RETENTION) {
  return runPurge({ pool: h.db.pool, schema: h.db.schema, logger: h.logger }, settings);
}

/** Every row of `query`, as one text: equal texts, equal data. */
async function digest(query: string, params: unknown[] = []): Promise<string> {
  const result = await h.db.pool.query<{ d: string | null }>(
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM (${query}) t`,
    params,
  );
  return result.rows[0]?.d ?? '';
}

/** The mirror apart from `clientIds` and their patients, and the analysts' views. */
async function untouched(clientIds: number[]): Promise<Record<string, string>> {
  return {
    clients: await digest('SELECT * FROM clients WHERE id <> ALL($1::bigint[])', [clientIds]),
    patients: await digest('SELECT * FROM patients WHERE client_id IS NULL OR client_id <> ALL($1::bigint[])', [
      clientIds,
    ]),
    phones: await digest('SELECT * FROM phone_numbers WHERE client_id <> ALL($1::bigint[])', [clientIds]),
    values: await digest(
      `SELECT * FROM custom_field_values v WHERE NOT (
         (object_type = 'client' AND object_id = ANY($1::bigint[]))
         OR (object_type = 'patient' AND object_id IN (SELECT id FROM patients WHERE client_id = ANY($1::bigint[]))))`,
      [clientIds],
    ),
    activeClients: await digest('SELECT * FROM active_clients'),
    activePatients: await digest('SELECT * FROM active_patients'),
  };
}

async function wholeMirror(): Promise<string> {
  const parts = await Promise.all(
    ['clients', 'patients', 'phone_numbers', 'custom_field_values', 'sync_rejects', 'sync_runs'].map((t) =>
      digest(`SELECT * FROM ${t}`),
    ),
  );
  return parts.join(',');
}

/** A client that has an email, phone numbers, custom values and patients with custom values. */
async function richClient(exclude: number[] = []): Promise<number> {
  const result = await h.db.pool.query<{ id: string }>(
    `SELECT c.id FROM clients c
     WHERE c.deleted_at IS NULL AND NOT c.archived AND c.email IS NOT NULL AND c.id <> ALL($1::bigint[])
       AND EXISTS (SELECT 1 FROM phone_numbers p WHERE p.client_id = c.id)
       AND EXISTS (SELECT 1 FROM custom_field_values v WHERE v.object_type = 'client' AND v.object_id = c.id)
       AND EXISTS (SELECT 1 FROM patients pa JOIN custom_field_values v
                     ON v.object_type = 'patient' AND v.object_id = pa.id WHERE pa.client_id = c.id)
     ORDER BY c.id LIMIT 1`,
    [exclude],
  );
  expect(result.rowCount, 'the seed has a client with phone numbers, custom values and patients').toBe(1);
  return Number(result.rows[0]!.id);
}

async function counts(clientId: number) {
  const r = await h.db.pool.query<{ phones: string; client_values: string; patient_values: string; patients: string }>(
    `SELECT (SELECT count(*) FROM phone_numbers WHERE client_id = $1) AS phones,
            (SELECT count(*) FROM custom_field_values WHERE object_type = 'client' AND object_id = $1) AS client_values,
            (SELECT count(*) FROM custom_field_values v JOIN patients p ON v.object_type = 'patient' AND v.object_id = p.id
              WHERE p.client_id = $1) AS patient_values,
            (SELECT count(*) FROM patients WHERE client_id = $1) AS patients`,
    [clientId],
  );
  const row = r.rows[0]!;
  return {
    phones: Number(row.phones),
    clientValues: Number(row.client_values),
    patientValues: Number(row.patient_values),
    patients: Number(row.patients),
  };
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 300, seed: 16 } });
  expectLanded(await h.sync());
});
afterAll(async () => h?.close());

let victimId = 0;
let archivedClientId = 0;
const victim = () => victimId;
const archivedId = () => archivedClientId;

describe('purge of deleted records', () => {
  let victim: number;
  let archived: number;
  let before: Record<string, string>;

  it('keeps a client deleted in Provet whole until its retention period has passed', async () => {
    victim = victimId = await richClient();
    archived = archivedClientId = await richClient([victim]);
    h.sim.updateClient(archived, { archived: true });
    expectLanded(await h.sync());
    // Archived is not deleted: Provet keeps the record, and so does the mirror.
    expect((await h.db.pool.query('SELECT archived FROM clients WHERE id = $1', [archived])).rows[0]).toEqual({
      archived: true,
    });
    h.sim.deleteClient(victim);
    expect((await reconcile()).status).toBe('succeeded');
    // What the purge must leave as it is: everything but the deleted client's, views included.
    before = await untouched([victim]);
    const found = await h.db.pool.query<{ deleted_at: string | null }>('SELECT deleted_at FROM clients WHERE id = $1', [
      victim,
    ]);
    expect(found.rows[0]?.deleted_at).not.toBeNull();

    const outcome = await purge();
    expectLanded(outcome);
    expect(outcome.counts).toMatchObject({ clients: { purged: 0 }, patients: { purged: 0 } });
    const kept = await counts(victim);
    expect(kept.phones).toBeGreaterThan(0);
    expect(kept.clientValues).toBeGreaterThan(0);
    const row = await h.db.pool.query<{ lastname: string | null }>('SELECT lastname FROM clients WHERE id = $1', [
      victim,
    ]);
    expect(row.rows[0]?.lastname).not.toBeNull();
  });

  it('--dry-run, once the period has passed, counts what a purge would do and changes nothing', async () => {
    // The clock moved on: the deletion is now 31 days old.
    await h.db.pool.query(
      `UPDATE clients SET deleted_at = deleted_at - interval '31 days' WHERE deleted_at IS NOT NULL;
       UPDATE patients SET deleted_at = deleted_at - interval '31 days' WHERE deleted_at IS NOT NULL`,
    );
    const mirror = await wholeMirror();
    const expected = await counts(victim);
    const dry = await dryRunPurge({ pool: h.db.pool, schema: h.db.schema }, RETENTION);
    expect(dry).toEqual({
      clients: { purged: 1 },
      patients: { purged: expected.patients },
      phone_numbers: { deleted: expected.phones },
      custom_field_values: { deleted: expected.clientValues + expected.patientValues },
      sync_rejects: { deleted: 0 },
    });
    expect(await wholeMirror()).toBe(mirror);
    // Like a purge, it waits for no run: another run holding the lock, it does nothing.
    const lock = await tryAcquireRunLock(h.db.pool, h.db.schema);
    try {
      expect(await dryRunPurge({ pool: h.db.pool, schema: h.db.schema }, RETENTION)).toBe('locked');
    } finally {
      await lock?.release();
    }

    const cli = await runCli(['purge', '--dry-run'], {
      DATABASE_URL: h.testDatabase.url,
      PROVET_DB_SCHEMA: h.db.schema,
    });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('Dry run, nothing changed');
    expect(cli.stdout).toContain('erase 1 clients');
    expect(cli.stdout).toContain(`erase ${expected.patients} patients`);
    expect(await wholeMirror()).toBe(mirror);
  });

  it('erases the client, its patients, phone numbers and custom values; live data and the views unchanged', async () => {
    const expected = await counts(victim);
    const cli = await runCli(['purge'], { DATABASE_URL: h.testDatabase.url, PROVET_DB_SCHEMA: h.db.schema });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('erased 1 clients');
    expect(cli.stdout).toContain(`deleted ${expected.phones} phone numbers`);

    const run = await h.db.pool.query<{ kind: string; status: string; streams: Record<string, unknown> }>(
      `SELECT kind, status, streams FROM sync_runs ORDER BY id DESC LIMIT 1`,
    );
    expect(run.rows[0]).toMatchObject({
      kind: 'purge',
      status: 'succeeded',
      streams: {
        clients: { purged: 1 },
        patients: { purged: expected.patients },
        phone_numbers: { deleted: expected.phones },
        custom_field_values: { deleted: expected.clientValues + expected.patientValues },
      },
    });

    // The tombstone: personal columns empty, raw an empty object, the rest (what counts need) kept.
    for (const table of ['clients', 'patients'] as const) {
      const rows = await h.db.pool.query<Record<string, unknown>>(
        table === 'clients' ? 'SELECT * FROM clients WHERE id = $1' : 'SELECT * FROM patients WHERE client_id = $1',
        [victim],
      );
      expect(rows.rowCount).toBeGreaterThan(0);
      for (const row of rows.rows) {
        for (const column of classifiedColumns(table)) {
          if (column.class === 'none') continue;
          expect(row[column.name], `${table}.${column.name}`).toEqual(column.name === 'raw' ? {} : null);
        }
        expect(row.purged_at).not.toBeNull();
        expect(row.deleted_at).not.toBeNull();
        expect(row.modified).not.toBeNull();
        expect(row.created).not.toBeNull();
      }
    }
    expect(await counts(victim)).toEqual({ phones: 0, clientValues: 0, patientValues: 0, patients: expected.patients });
    expect(await untouched([victim])).toEqual(before);
    const archivedRow = await h.db.pool.query<{ lastname: string | null; purged_at: string | null }>(
      'SELECT lastname, purged_at FROM clients WHERE id = $1',
      [archived],
    );
    expect(archivedRow.rows[0]?.purged_at).toBeNull();
    expect(archivedRow.rows[0]?.lastname).not.toBeNull();

    // Nothing is left to purge; a second purge changes nothing.
    const again = await purge();
    expectLanded(again);
    expect(again.counts).toMatchObject({ clients: { purged: 0 }, patients: { purged: 0 } });
  });

  it('DELETED_RETENTION_DAYS=0 purges at once; a record Provet still has comes back whole at the next reconciliation', async () => {
    // Marked deleted by mistake (Provet still has it), e.g. by a hand edit: purged at once with 0...
    const mistaken = await richClient([victim, archived]);
    await h.db.pool.query('UPDATE clients SET deleted_at = now() WHERE id = $1', [mistaken]);
    const outcome = await purge({ deletedRetentionDays: 0, rejectsRetentionDays: 30 });
    expectLanded(outcome);
    expect(outcome.counts?.clients.purged).toBe(1);
    const erased = await h.db.pool.query<{ lastname: string | null }>('SELECT lastname FROM clients WHERE id = $1', [
      mistaken,
    ]);
    expect(erased.rows[0]?.lastname).toBeNull();
    // ...and restored from Provet by reconciliation, purged_at cleared.
    expect((await reconcile()).status).toBe('succeeded');
    const restored = await h.db.pool.query<{
      lastname: string | null;
      purged_at: string | null;
      deleted_at: string | null;
    }>('SELECT lastname, purged_at, deleted_at FROM clients WHERE id = $1', [mistaken]);
    const source = h.sim.exportState().clients.find((c) => (c as { id: number }).id === mistaken) as {
      lastname: string;
    };
    expect(restored.rows[0]).toEqual({ lastname: source.lastname, purged_at: null, deleted_at: null });
  });
});

describe('an anonymisation in Provet', () => {
  it('reaches the mirror with the next sync: the old identity is nowhere in the mirrored tables', async () => {
    const id = await richClient([victim(), archivedId()]);
    const before = await h.db.pool.query<{ firstname: string; lastname: string; email: string | null }>(
      'SELECT firstname, lastname, email FROM clients WHERE id = $1',
      [id],
    );
    const email = before.rows[0]!.email!;
    expect(email).toContain('@');
    const phones = await h.db.pool.query<{ id: string; phone_number: string }>(
      'SELECT id, phone_number FROM phone_numbers WHERE client_id = $1',
      [id],
    );
    const values = await h.db.pool.query<{ field_id: string }>(
      `SELECT field_id FROM custom_field_values WHERE object_type = 'client' AND object_id = $1`,
      [id],
    );
    expect(phones.rowCount).toBeGreaterThan(0);
    // What a clinic's anonymisation does: the person's fields overwritten, contact rows removed.
    for (const phone of phones.rows) h.sim.removePhoneNumber(Number(phone.id));
    for (const value of values.rows) h.sim.removeCustomFieldValue('client', id, Number(value.field_id));
    h.sim.updateClient(id, {
      firstname: 'Anonymised',
      lastname: 'Anonymised',
      email: '',
      street_address: '',
    });
    expectLanded(await h.sync());

    const row = await h.db.pool.query<{ firstname: string; lastname: string; raw: string }>(
      'SELECT firstname, lastname, raw::text AS raw FROM clients WHERE id = $1',
      [id],
    );
    expect(row.rows[0]).toMatchObject({ firstname: 'Anonymised', lastname: 'Anonymised' });
    expect(row.rows[0]!.raw).not.toContain(before.rows[0]!.lastname);
    expect(await counts(id)).toMatchObject({ phones: 0, clientValues: 0 });
    for (const table of ['clients', 'patients', 'phone_numbers', 'custom_field_values']) {
      const found = await h.db.pool.query(`SELECT 1 FROM ${table} t WHERE t::text ILIKE '%' || $1 || '%'`, [email]);
      expect(found.rowCount, `${email} in ${table}`).toBe(0);
    }
    for (const phone of phones.rows) {
      const found = await h.db.pool.query(`SELECT 1 FROM phone_numbers WHERE phone_number = $1 AND client_id = $2`, [
        phone.phone_number,
        id,
      ]);
      expect(found.rowCount).toBe(0);
    }
  });
});

describe('rejects retention', () => {
  it('removes refused records older than REJECTS_RETENTION_DAYS and keeps newer ones', async () => {
    await h.db.pool.query(
      `INSERT INTO sync_rejects (stream, record_id, reason, payload, rejected_at) VALUES
         ('clients', '1', 'old', '{"email":"old@example.test"}', now() - interval '40 days'),
         ('clients', '2', 'old', '{"email":"older@example.test"}', now() - interval '31 days'),
         ('clients', '3', 'new', '{"email":"new@example.test"}', now() - interval '29 days'),
         ('clients', '4', 'new', '{"email":"newest@example.test"}', now())`,
    );
    const dry = await dryRunPurge({ pool: h.db.pool, schema: h.db.schema }, RETENTION);
    expect(dry).toMatchObject({ sync_rejects: { deleted: 2 } });
    const outcome = await purge();
    expectLanded(outcome);
    expect(outcome.counts?.sync_rejects.deleted).toBe(2);
    const left = await h.db.pool.query<{ record_id: string }>('SELECT record_id FROM sync_rejects ORDER BY record_id');
    expect(left.rows.map((r) => r.record_id)).toEqual(['3', '4']);
  });
});

describe('the daemon', () => {
  it('purges after each reconciliation: a client deleted in Provet is erased (DELETED_RETENTION_DAYS=0)', async () => {
    const schema = 'daemon_purge';
    const daemon = await startDaemon({
      PROVET_BASE_URL: h.sim.baseUrl,
      PROVET_CLIENT_ID: h.sim.clientId,
      PROVET_CLIENT_SECRET: h.sim.clientSecret,
      DATABASE_URL: h.testDatabase.url,
      PROVET_DB_SCHEMA: schema,
      SYNC_SCHEDULE: '0 0 1 1 *',
      RECONCILE_SCHEDULE: '*/2 * * * * *',
      DELETED_RETENTION_DAYS: '0',
    });
    try {
      // The daemon's first sync lands before the deletion, so that its mirror has the client.
      const synced = Date.now() + 30_000;
      while (Date.now() < synced) {
        const landed = await h.db.pool
          .query(`SELECT 1 FROM ${schema}.sync_runs WHERE kind = 'full' AND status = 'succeeded'`)
          .catch(() => ({ rowCount: 0 }));
        if (landed.rowCount) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const live = await h.db.pool.query<{ id: string }>(
        `SELECT id FROM clients WHERE deleted_at IS NULL AND NOT archived ORDER BY id DESC LIMIT 1`,
      );
      const id = Number(live.rows[0]!.id);
      h.sim.deleteClient(id);
      const deadline = Date.now() + 30_000;
      let row: { lastname: string | null; purged_at: string | null } | undefined;
      while (Date.now() < deadline) {
        const found = await h.db.pool
          .query<{ lastname: string | null; purged_at: string | null }>(
            `SELECT lastname, purged_at FROM ${schema}.clients WHERE id = $1`,
            [id],
          )
          .catch(() => ({ rows: [] }));
        row = found.rows[0];
        if (row?.purged_at) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(row, daemon.output()).toMatchObject({ lastname: null });
      expect(row?.purged_at).not.toBeNull();
      const runs = await h.db.pool.query<{ kind: string }>(
        `SELECT kind FROM ${schema}.sync_runs WHERE kind IN ('reconcile', 'purge') ORDER BY id`,
      );
      // Each purge follows a reconciliation.
      const kinds = runs.rows.map((r) => r.kind);
      expect(kinds.slice(0, 2)).toEqual(['reconcile', 'purge']);
      expect(daemon.output()).toContain('reconcile and purge scheduled');
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
