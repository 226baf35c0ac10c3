// Applies migrations/ to the mirror's schema. Safe to run from several processes at once: an
// advisory lock serialises them, and drizzle skips what is already applied.
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { quoteIdent } from './connect.js';

export class MissingPrivilegeError extends Error {
  readonly code = 'DATABASE_PRIVILEGE_MISSING';
}

/** migrations/ sits two levels above this file both in src/db and in dist/db. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function migrateSchema(pool: pg.Pool, schema: string, logger: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query(`SELECT pg_advisory_lock(hashtext('provet-sync:migrate'), hashtext($1))`, [schema]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await client.query(`SET search_path TO ${quoteIdent(schema)}`);
      // The bookkeeping table lives in the mirror's own schema, so each installation is self-contained.
      await migrate(drizzle(client), {
        migrationsFolder: MIGRATIONS_FOLDER,
        migrationsSchema: schema,
        migrationsTable: '__drizzle_migrations',
      });
      logger.debug({ schema }, 'migrations applied');
      await checkTemporaryPrivilege(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext('provet-sync:migrate'), hashtext($1))`, [schema]);
    }
  } finally {
    client.release();
  }
}

/**
 * Changed records are merged through temporary staging tables (db/mirror.ts). A role without the
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
