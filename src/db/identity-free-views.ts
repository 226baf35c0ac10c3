// The identity-free views of a mirror, for `grant-reader ROLE --no-identities`: a schema of their
// own, `<schema>_no_identities`, with one view per relation analysts read in the mirror, under the
// same name (clients, patients, ..., active_clients, active_patients, sync_runs), each without the
// columns PERSONAL_DATA (db/schema.ts) classifies as 'identity'. Provet ids stay, so counts, trends
// and joins work, and an analyst's query that names no identifying column runs unchanged with
// search_path set to the views' schema.
//
// The views run with their owner's rights (the user that migrates the mirror), so a role reading
// them needs nothing in the mirror's schema itself. They list their columns as they were when
// built: grant-reader rebuilds them, so it is run again after an upgrade. Like the group views
// (control/group-views.ts), they depend on the mirror's columns: a migration that drops or retypes
// a column they show fails while they exist, so it drops the views first (not their schema, whose
// USAGE grants say who reads them), and the next grant-reader --no-identities makes them again
// for every such reader.
import type pg from 'pg';
import { quoteIdent } from './connect.js';
import { classifiedColumns, MIRRORED_TABLES, PERSONAL_DATA } from './schema.js';

const SUFFIX = '_no_identities';

/** The same rule as PROVET_DB_SCHEMA's: PostgreSQL would silently cut a longer name to 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

class IdentityFreeSchemaError extends Error {
  readonly code = 'IDENTITY_FREE_SCHEMA_INVALID';
}

/** The schema of `schema`'s identity-free views; throws when that is no valid schema name. */
export function identityFreeSchemaName(schema: string): string {
  const name = `${schema}${SUFFIX}`;
  if (!SCHEMA_NAME.test(name)) {
    throw new IdentityFreeSchemaError(
      `the identity-free views of schema '${schema}' would be in '${name}' (${name.length} characters), ` +
        `which is not a lower-case SQL identifier of at most 63 characters: the mirror's schema name must be ` +
        `at most ${63 - SUFFIX.length} characters for --no-identities`,
    );
  }
  return name;
}

type MirroredTable = keyof typeof PERSONAL_DATA;

function isMirroredTable(name: string): name is MirroredTable {
  return Object.hasOwn(PERSONAL_DATA, name);
}

/** What --no-identities hides: each mirrored table's identity columns (SQL names), from PERSONAL_DATA. */
export function hiddenColumns(): Array<{ table: string; columns: string[] }> {
  return MIRRORED_TABLES.filter(isMirroredTable).map((table) => ({
    table,
    columns: classifiedColumns(table)
      .filter((c) => c.class === 'identity')
      .map((c) => c.name),
  }));
}

/**
 * The views in the order they are created (the active views read the table views, so that they
 * cannot show what those hide), each with its defining query. The active views keep the rows the
 * mirror's own active_clients and active_patients keep (migrations/0005): neither archived nor
 * deleted in Provet.
 */
function viewDefinitions(mirror: string, views: string): Array<{ name: string; query: string }> {
  const m = quoteIdent(mirror);
  const v = quoteIdent(views);
  const tables = MIRRORED_TABLES.map((table) => {
    if (!isMirroredTable(table)) throw new Error(`mirrored table ${table} has no entry in PERSONAL_DATA`);
    const shown = classifiedColumns(table)
      .filter((c) => c.class !== 'identity')
      .map((c) => quoteIdent(c.name));
    return { name: table, query: `SELECT ${shown.join(', ')} FROM ${m}.${quoteIdent(table)}` };
  });
  return [
    ...tables,
    {
      name: 'active_clients',
      query: `SELECT c.* FROM ${v}.clients c WHERE NOT c.archived AND c.deleted_at IS NULL`,
    },
    {
      name: 'active_patients',
      query:
        `SELECT p.*, s.name AS species_name, b.name AS breed_name FROM ${v}.patients p ` +
        `LEFT JOIN ${v}.species s ON s.id = p.species_code LEFT JOIN ${v}.breeds b ON b.id = p.breed_code ` +
        `WHERE NOT p.archived AND p.deleted_at IS NULL`,
    },
    // provet-sync's own run history: counts and errors of runs, no record of Provet's.
    { name: 'sync_runs', query: `SELECT * FROM ${m}.sync_runs` },
  ];
}

/** The relations the identity-free schema holds, as an analyst finds them there. */
export const IDENTITY_FREE_RELATIONS: readonly string[] = viewDefinitions('mirror', 'views').map((d) => d.name);

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Within the caller's transaction (which must hold grant-reader's lock, see ensureReaderRole):
 * creates or brings up to date the identity-free views of the mirror in `mirror`, and gives SELECT
 * on them again to every role with USAGE on their schema (the record of who reads them), since a
 * view made again has no grants. Returns the views' schema.
 */
export async function rebuildIdentityFreeViews(client: pg.PoolClient, mirror: string): Promise<string> {
  const schema = identityFreeSchemaName(mirror);
  const s = quoteIdent(schema);
  const definitions = viewDefinitions(mirror, schema);
  await refuseForeignSchema(client, schema, mirror);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  // CREATE OR REPLACE keeps the views' grants and whatever an analyst built on them; it refuses
  // when a view's columns are not the old ones followed by new ones (a column classified
  // 'identity' since, or added in the middle), and then every view is made again. No CASCADE:
  // an object of someone else's built on a view stops the rebuild with PostgreSQL's own error.
  await client.query('SAVEPOINT identity_free_views');
  try {
    for (const d of definitions) await client.query(`CREATE OR REPLACE VIEW ${s}.${quoteIdent(d.name)} AS ${d.query}`);
    await client.query('RELEASE SAVEPOINT identity_free_views');
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT identity_free_views');
    for (const d of [...definitions].reverse()) await client.query(`DROP VIEW IF EXISTS ${s}.${quoteIdent(d.name)}`);
    for (const d of definitions) await client.query(`CREATE VIEW ${s}.${quoteIdent(d.name)} AS ${d.query}`);
  }
  for (const d of definitions) {
    await client.query(
      `COMMENT ON VIEW ${s}.${quoteIdent(d.name)} IS ${literal(`${mirror}.${d.name} without the columns that identify a person (names, contact details, free text, raw)`)}`,
    );
  }
  await client.query(`COMMENT ON SCHEMA ${s} IS ${literal(marker(mirror))}`);
  const readers = await client.query<{ role: string }>(
    `SELECT r.rolname AS role FROM pg_namespace n, aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
     WHERE n.nspname = $1 AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner`,
    [schema],
  );
  for (const { role } of readers.rows) {
    await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${quoteIdent(role)}`);
  }
  return schema;
}

/**
 * What grant-reader --no-identities tells its user: per mirror, where the role reads and what it
 * cannot, the search_path to set, and (for stderr) what it can still read through other grants.
 */
export function describeIdentityFreeGrant(
  role: string,
  grants: Array<{ mirror: string; created: boolean; viewSchema: string; stillReadable: string[] }>,
): { out: string; warning: string | undefined } {
  const created = grants.some((g) => g.created);
  const lines = grants.map(
    (g) =>
      `${role} may read the mirror in schema ${g.mirror} without direct identifiers: the views ` +
      `${IDENTITY_FREE_RELATIONS.join(', ')} in schema ${g.viewSchema}, and nothing in schema ${g.mirror} itself.`,
  );
  const hidden = hiddenColumns()
    .filter((t) => t.columns.length > 0)
    .map((t) => `${t.table} (${t.columns.join(', ')})`)
    .join(', ');
  // The views have the same names in every installation's schema: one schema on the path at a time.
  const searchPath = grants[0]!.viewSchema;
  const out =
    `${created ? `created role ${role} (NOLOGIN).\n` : ''}${lines.join('\n')}\n` +
    `Hidden columns: ${hidden}.\n` +
    `Log in as a member of it, with search_path = ${searchPath} so that queries naming no hidden column run unchanged, e.g.:\n` +
    `  CREATE ROLE metabase LOGIN PASSWORD '...' IN ROLE ${role};\n` +
    `  ALTER ROLE metabase SET search_path = ${searchPath};\n` +
    `In Metabase, choose the schema ${searchPath}. Run this again after an upgrade: it rebuilds the views.\n`;
  const leaks = grants.flatMap((g) => g.stillReadable.map((relation) => `${g.mirror}.${relation}`));
  const warning =
    leaks.length > 0
      ? `provet-sync: warning: ${role} can still read ${leaks.join(', ')} through PUBLIC or a role it is a member of; ` +
        `revoke that for it to see no identities\n`
      : undefined;
  return { out, warning };
}

/**
 * Drops the identity-free views of the mirror in `mirror` with their schema, for when the mirror
 * itself is dropped (installations remove --drop-schema): they would be empty names otherwise.
 */
export async function dropIdentityFreeViews(client: pg.PoolClient, mirror: string): Promise<void> {
  const schema = `${mirror}${SUFFIX}`;
  // A name grant-reader refuses was never made.
  if (!SCHEMA_NAME.test(schema)) return;
  // Only ours: a schema of that name made otherwise (another installation's mirror, say) stays.
  if ((await schemaState(client, schema, mirror)) !== 'ours') return;
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

/** The comment grant-reader puts on the schema it makes: how it knows the schema is its own. */
function marker(mirror: string): string {
  return `The mirror in ${mirror} without direct identifiers: provet-sync grant-reader ROLE --no-identities (re)builds these views`;
}

class ForeignSchemaError extends Error {
  readonly code = 'IDENTITY_FREE_SCHEMA_TAKEN';
}

/** Whether `schema` is absent, the identity-free views of `mirror`, or something else. */
async function schemaState(
  client: pg.PoolClient,
  schema: string,
  mirror: string,
): Promise<'absent' | 'ours' | 'empty' | 'foreign'> {
  const found = await client.query<{ comment: string | null; relations: number }>(
    `SELECT obj_description(n.oid, 'pg_namespace') AS comment,
            (SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = n.oid) AS relations
     FROM pg_namespace n WHERE n.nspname = $1`,
    [schema],
  );
  const row = found.rows[0];
  if (!row) return 'absent';
  if (row.comment === marker(mirror)) return 'ours';
  return row.relations === 0 ? 'empty' : 'foreign';
}

/**
 * The views' schema is named after the mirror's, and nothing stops another mirror (or anything
 * else) from having that name already: such a schema is neither written into nor dropped.
 */
async function refuseForeignSchema(client: pg.PoolClient, schema: string, mirror: string): Promise<void> {
  if ((await schemaState(client, schema, mirror)) !== 'foreign') return;
  throw new ForeignSchemaError(
    `schema ${schema} already exists and holds tables or views that are not provet-sync's identity-free views of ${mirror}; ` +
      `rename it or the mirror's schema (PROVET_DB_SCHEMA) for --no-identities`,
  );
}
