// A read-only role for analytics tools (Metabase, Grafana, dbt, psql). It may read the mirrored
// tables, the views and the run history, and nothing else: not sync_rejects (raw payloads of
// refused records), not sync_state, the lease or the queues, and it can write nowhere.
// Safe to run again (after an upgrade, say): GRANT and REVOKE are idempotent.
// With --no-identities the role reads identity-free views of the mirror instead (see
// identity-free-views.ts) and nothing in the mirror's own schema.
import type pg from 'pg';
import { quoteIdent, withTransaction } from './connect.js';
import { rebuildIdentityFreeViews } from './identity-free-views.js';
import { MIRRORED_TABLES } from './schema.js';

/**
 * What analysts get SELECT on: the mirrored tables (a table added to MIRRORED_TABLES is opened with
 * them), the views and the run history. Any other table stays closed until listed here.
 */
const READABLE_RELATIONS = [...MIRRORED_TABLES, 'active_clients', 'active_patients', 'sync_runs'];

export const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

class RoleNameError extends Error {
  readonly code = 'ROLE_NAME_INVALID';
}

/**
 * Within the caller's transaction: creates `role` (NOLOGIN) unless it exists. Serialises
 * concurrent grant-reader runs, since CREATE ROLE has no IF NOT EXISTS.
 */
export async function ensureReaderRole(client: pg.PoolClient, role: string): Promise<{ created: boolean }> {
  if (!ROLE_NAME.test(role))
    throw new RoleNameError(`role name '${role}' must be a lower-case SQL identifier (letters, digits, _)`);
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('provet-sync:grant-reader'))`);
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) await client.query(`CREATE ROLE ${quoteIdent(role)} NOLOGIN`);
  return { created: exists.rowCount === 0 };
}

/**
 * Creates the role (NOLOGIN: people or tools log in as members of it) unless it exists, and
 * grants it read access to the mirror in `schema`. Returns whether the role was created.
 */
export function grantReader(pool: pg.Pool, schema: string, role: string): Promise<{ created: boolean }> {
  const s = quoteIdent(schema);
  return withTransaction(pool, async (client) => {
    // Checks the role's name before it is quoted into anything.
    const { created } = await ensureReaderRole(client, role);
    const r = quoteIdent(role);
    await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${r}`);
    await client.query(`REVOKE CREATE ON SCHEMA ${s} FROM ${r}`);
    // Start from nothing (views included), so a privilege granted by hand on sync_rejects goes too.
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${r}`);
    const readable = READABLE_RELATIONS.map((t) => `${s}.${quoteIdent(t)}`).join(', ');
    await client.query(`GRANT SELECT ON ${readable} TO ${r}`);
    return { created };
  });
}

/**
 * `grant-reader ROLE --no-identities`: creates the role unless it exists, (re)builds the mirror's
 * identity-free views and lets the role read them, and takes away whatever it had in the mirror's
 * own schema (a role once granted full read loses it). Returns the views' schema and the mirror's
 * relations the role can still read through PUBLIC or another role it is a member of, which this
 * cannot revoke (empty unless someone granted them by hand or the role belongs to a full reader).
 */
export function grantIdentityFreeReader(
  pool: pg.Pool,
  schema: string,
  role: string,
): Promise<{ created: boolean; viewSchema: string; stillReadable: string[] }> {
  const s = quoteIdent(schema);
  return withTransaction(pool, async (client) => {
    // Checks the role's name before it is quoted into anything.
    const { created } = await ensureReaderRole(client, role);
    const r = quoteIdent(role);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${r}`);
    await client.query(`REVOKE ALL ON SCHEMA ${s} FROM ${r}`);
    const viewSchema = await rebuildIdentityFreeViews(client, schema);
    const v = quoteIdent(viewSchema);
    await client.query(`GRANT USAGE ON SCHEMA ${v} TO ${r}`);
    await client.query(`REVOKE CREATE ON SCHEMA ${v} FROM ${r}`);
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${v} FROM ${r}`);
    await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${v} TO ${r}`);
    const { rows } = await client.query<{ relation: string }>(
      `SELECT c.relname AS relation FROM pg_class c
       WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
         AND has_schema_privilege($2, c.relnamespace, 'USAGE') AND has_any_column_privilege($2, c.oid, 'SELECT')
       ORDER BY 1`,
      [schema, role],
    );
    return { created, viewSchema, stillReadable: rows.map((row) => row.relation) };
  });
}
