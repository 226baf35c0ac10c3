// Applies migrations/ to a mirror's schema, and migrations/control/ to the fleet's control schema.
// Safe to run from several processes at once: an advisory lock serialises them, and drizzle skips
// what is already applied.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { quoteIdent } from './connect.js';

class MissingPrivilegeError extends Error {
  readonly code = 'DATABASE_PRIVILEGE_MISSING';
}

/** migrations/ sits two levels above this file both in src/db and in dist/db. */
const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));
const CONTROL_MIGRATIONS_FOLDER = join(MIGRATIONS_FOLDER, 'control');

const MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * Whether drizzle would find nothing to apply: it applies every migration of the journal whose
 * `when` is later than the created_at of the last one it recorded, so the schema is up to date
 * when that is at least the journal's latest.
 */
async function upToDate(client: pg.PoolClient, folder: string, schema: string): Promise<boolean> {
  const journal = JSON.parse(await readFile(join(folder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { when: number }[];
  };
  const latest = Math.max(...journal.entries.map((e) => e.when));
  const table = `${quoteIdent(schema)}.${quoteIdent(MIGRATIONS_TABLE)}`;
  const { rows } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
  if (!rows[0]?.exists) return false;
  const last = await client.query<{ created_at: string | null }>(
    `SELECT max(created_at)::text AS created_at FROM ${table}`,
  );
  return Number(last.rows[0]?.created_at ?? 0) >= latest;
}

export async function migrateSchema(
  pool: pg.Pool,
  schema: string,
  logger: Logger,
  options: { writesMirror?: boolean } = {},
): Promise<void> {
  await withMigrationLock(pool, schema, async (client) => {
    await applyMigrations(client, MIGRATIONS_FOLDER, schema, logger);
    if (options.writesMirror !== false) await checkTemporaryPrivilege(client);
  });
}

/**
 * The fleet's registry (migrations/control/) in its own schema. The pool's connections keep their
 * search_path (the mirror's schema): it is set for the migration and reset afterwards.
 */
export async function migrateControlSchema(pool: pg.Pool, schema: string, logger: Logger): Promise<void> {
  await withMigrationLock(pool, schema, async (client) => {
    try {
      await applyMigrations(client, CONTROL_MIGRATIONS_FOLDER, schema, logger);
    } finally {
      await client.query('RESET search_path');
    }
  });
}

/**
 * Runs `fn` under the migration lock of `schema`: for migrations that are not ours (the job
 * queue's), whose CREATE SCHEMA IF NOT EXISTS fails when two processes race to it.
 */
export async function withMigrationLock(
  pool: pg.Pool,
  schema: string,
  fn: (client: pg.PoolClient) => Promise<void>,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query(`SELECT pg_advisory_lock(hashtext('provet-sync:migrate'), hashtext($1))`, [schema]);
    try {
      await fn(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext('provet-sync:migrate'), hashtext($1))`, [schema]);
    }
  } finally {
    client.release();
  }
}

async function applyMigrations(client: pg.PoolClient, folder: string, schema: string, logger: Logger): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await client.query(`SET search_path TO ${quoteIdent(schema)}`);
  if (await upToDate(client, folder, schema)) {
    logger.debug({ schema }, 'migrations already applied');
    return;
  }
  // drizzle's migrator is loaded only when there is something to apply: it is the slowest
  // module to load (about 0.1 s), and most starts find nothing to do.
  const [{ drizzle }, { migrate }] = await Promise.all([
    import('drizzle-orm/node-postgres'),
    import('drizzle-orm/node-postgres/migrator'),
  ]);
  // The bookkeeping table lives in the schema it describes, so each installation is self-contained.
  await migrate(drizzle(client), {
    migrationsFolder: folder,
    migrationsSchema: schema,
    migrationsTable: MIGRATIONS_TABLE,
  });
  logger.debug({ schema }, 'migrations applied');
}

/**
 * Changed records are merged through temporary staging tables (db/mirror/staging.ts). A role without the
 * TEMPORARY privilege (a hardened setup may revoke it from PUBLIC) would fail on the first page
 * that updates anything; say so once, at startup, with the fix.
 */
async function checkTemporaryPrivilege(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ role: string; database: string; allowed: boolean }>(
    `SELECT current_user AS role, current_database() AS database, has_database_privilege(current_database(), 'TEMPORARY') AS allowed`,
  );
  const { role, database, allowed } = rows[0]!;
  if (!allowed) {
    throw new MissingPrivilegeError(
      `role ${role} may not create temporary tables in database ${database}, and provet-sync merges changed records through them: ` +
        `GRANT TEMPORARY ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(role)}`,
    );
  }
}
