// Applies migrations/ to the mirror's schema. Safe to run from several processes at once: an
// advisory lock serialises them, and drizzle skips what is already applied.
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { quoteIdent } from './connect.js';

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
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext('provet-sync:migrate'), hashtext($1))`, [schema]);
    }
  } finally {
    client.release();
  }
}
