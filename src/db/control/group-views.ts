// The group schema (PROVET_GROUP_SCHEMA, default provet_all): one view per mirrored relation over every installation's schema,
// each row with an `installation` column, so that analysts can query the whole fleet in plain SQL
// (SELECT installation, count(*) FROM provet_all.active_clients GROUP BY 1). Rebuilt when the
// set of installations with a mirror changes (added, removed, first run) or their columns do (an
// upgrade's migration): the views' definitions list the columns as they were when built.
import type pg from 'pg';
import { quoteIdent } from '../connect.js';
import { MIRRORED_TABLES } from '../schema.js';

export const DEFAULT_GROUP_SCHEMA = 'provet_all';

/** The relations the group schema has a view of: the mirrored tables, the analysts' views, the runs. */
const GROUP_RELATIONS: readonly string[] = [...MIRRORED_TABLES, 'active_clients', 'active_patients', 'sync_runs'];

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Brings the group views up to date inside the caller's transaction; a no-op when nothing they
 * depend on changed (a fingerprint of installations, schemas and column count is kept as the
 * schema's comment). Returns the installations the views now cover, or null when unchanged.
 */
export async function refreshGroupViews(
  db: pg.PoolClient,
  controlSchema: string,
  groupSchema: string,
): Promise<string[] | null> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('provet-sync:group-views'), hashtext($1))`, [controlSchema]);
  const { rows: mirrors } = await db.query<{ name: string; schema: string }>(
    `SELECT name, mirror_schema AS schema FROM ${quoteIdent(controlSchema)}.installations
     WHERE to_regclass(quote_ident(mirror_schema) || '.sync_runs') IS NOT NULL ORDER BY name`,
  );
  const columns = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = ANY($1::text[])',
    [mirrors.map((m) => m.schema)],
  );
  const fingerprint = `provet-sync group views over ${mirrors.map((m) => `${m.name}=${m.schema}`).join(',') || 'no installation'} (${columns.rows[0]!.n} columns)`;
  const current = await db.query<{ comment: string | null }>(
    `SELECT obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = $1`,
    [groupSchema],
  );
  if (current.rows[0]?.comment === fingerprint) return null;

  const group = quoteIdent(groupSchema);
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${group}`);
  for (const relation of GROUP_RELATIONS) {
    const view = `${group}.${quoteIdent(relation)}`;
    if (mirrors.length === 0) {
      await db.query(`DROP VIEW IF EXISTS ${view}`);
      continue;
    }
    const body = mirrors
      .map(
        (m) =>
          `SELECT ${literal(m.name)}::text AS installation, t.* FROM ${quoteIdent(m.schema)}.${quoteIdent(relation)} t`,
      )
      .join('\nUNION ALL\n');
    // CREATE OR REPLACE keeps the privileges granted on the view; it refuses when the columns
    // changed (an upgrade added one), and then the view is made again.
    await db.query('SAVEPOINT group_view');
    try {
      await db.query(`CREATE OR REPLACE VIEW ${view} AS ${body}`);
      await db.query('RELEASE SAVEPOINT group_view');
    } catch {
      await db.query('ROLLBACK TO SAVEPOINT group_view');
      await db.query(`DROP VIEW IF EXISTS ${view}`);
      await db.query(`CREATE VIEW ${view} AS ${body}`);
    }
    await db.query(
      `COMMENT ON VIEW ${view} IS ${literal(`${relation} of every installation, with its name in the installation column`)}`,
    );
  }
  await db.query(`COMMENT ON SCHEMA ${group} IS ${literal(fingerprint)}`);
  return mirrors.map((m) => m.name);
}

/**
 * Lets `role` (which grant-reader has made) read the group views, and the ones rebuilt later:
 * views run with their owner's rights, so the role needs nothing in the installations' schemas.
 */
export async function grantGroupReader(db: pg.PoolClient, role: string, groupSchema: string): Promise<void> {
  const group = quoteIdent(groupSchema);
  const r = quoteIdent(role);
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${group}`);
  await db.query(`GRANT USAGE ON SCHEMA ${group} TO ${r}`);
  await db.query(`REVOKE CREATE ON SCHEMA ${group} FROM ${r}`);
  await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${group} TO ${r}`);
  await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${group} GRANT SELECT ON TABLES TO ${r}`);
}

/**
 * Takes the group views away from `role` again (grant-reader --no-identities: they show every
 * column of every installation), including the SELECT grantGroupReader set for views made later.
 * Returns whether the group schema exists, i.e. whether there was anything to take away.
 */
export async function revokeGroupReader(db: pg.PoolClient, role: string, groupSchema: string): Promise<boolean> {
  const exists = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [groupSchema]);
  if (exists.rowCount === 0) return false;
  const group = quoteIdent(groupSchema);
  const r = quoteIdent(role);
  await db.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${group} FROM ${r}`);
  await db.query(`REVOKE ALL ON SCHEMA ${group} FROM ${r}`);
  await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${group} REVOKE SELECT ON TABLES FROM ${r}`);
  return true;
}
