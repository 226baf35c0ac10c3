// `provet-sync demo`: the whole product in one command, with no Provet account and no database
// to set up. A simulated clinic is mirrored in full, a few records change the way a clinic would
// change them, and an incremental run brings exactly those changes over. With --serve, the
// database and the simulator then stay up until Ctrl-C, so the mirror can be looked at with psql
// or Metabase (and synced again).
import type { Writable } from 'node:stream';
import type { Config, ProvetConfig } from './config.js';
import { openDatabase, quoteIdent } from './db/connect.js';
import { migrateSchema } from './db/migrate.js';
import type { Logger } from './log.js';
import type { ProvetClient } from './provet/client.js';
import { runSync, type RunOutcome } from './sync/run.js';

const DEMO_SCHEMA = 'provet_demo';
const DEMO_CLIENTS = 2_000;

export interface DemoOptions {
  config: Config;
  logger: Logger;
  buildProvetClient: (config: ProvetConfig, logger: Logger) => ProvetClient;
  out: Writable;
  /** --serve: after the tour, keep the database and the simulator up until this resolves (a stop signal). */
  serve?: () => Promise<NodeJS.Signals>;
}

export async function runDemo({ config, logger, buildProvetClient, out, serve }: DemoOptions): Promise<number> {
  const say = (line = '') => out.write(`${line}\n`);
  const { startSimulator } = await import('./simulator/index.js');
  const sim = await startSimulator({ clients: DEMO_CLIENTS, seed: 42 });
  say(`1. A simulated Provet clinic with ${DEMO_CLIENTS} clients is serving ${sim.baseUrl}`);

  let db;
  try {
    db = await openDatabase({ ...config.database, schema: DEMO_SCHEMA }, logger);
  } catch (err) {
    await sim.close();
    throw err;
  }
  const provet = buildProvetClient(
    {
      baseUrl: sim.baseUrl,
      auth: { kind: 'oauth', clientId: sim.clientId, clientSecret: sim.clientSecret, tokenUrl: sim.tokenUrl },
      pageSize: 1000,
      requestTimeoutMs: 30_000,
      retryDeadlineMs: 60_000,
      maxBodyBytes: 64 * 1024 * 1024,
      rateWindowMs: 60_000,
    },
    logger,
  );
  try {
    say(`2. Mirror database: ${db.publicUrl ?? db.description}, schema ${DEMO_SCHEMA} (recreated for the demo)`);
    await db.pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(DEMO_SCHEMA)} CASCADE`);
    await migrateSchema(db.pool, DEMO_SCHEMA, logger);
    const deps = {
      pool: db.pool,
      schema: DEMO_SCHEMA,
      provet,
      logger,
      pageSize: 1000,
      lookbackSeconds: config.sync.lookbackSeconds,
    };

    let started = Date.now();
    const full = await runSync(deps);
    if (!landed(full)) return fail(say, full);
    say(`3. Full sync: ${describe(full)} in ${seconds(started)}`);

    const changes = makeClinicChanges(sim);
    say('4. Meanwhile at the clinic:');
    for (const change of changes.descriptions) say(`     - ${change}`);

    started = Date.now();
    const incremental = await runSync(deps);
    if (!landed(incremental)) return fail(say, incremental);
    say(`5. Incremental sync: ${describe(incremental)} in ${seconds(started)}`);

    const query = `SELECT c.id AS client, c.lastname, c.email, c.archived, p.id AS patient, p.name, p.deceased,
       (SELECT string_agg(v.label || '=' || (v.value #>> '{}'), ', ') FROM custom_field_values v
         WHERE v.object_type = 'patient' AND v.object_id = p.id) AS custom_values
  FROM clients c LEFT JOIN patients p ON p.client_id = c.id
  WHERE c.id = ANY($1) OR p.id = ANY($2)
  ORDER BY c.id, p.id`;
    const result = await db.pool.query(query, [changes.clientIds, changes.patientIds]);
    say('6. The changed records, as an analyst would query them:');
    say();
    say(`   SET search_path TO ${DEMO_SCHEMA};`);
    say(
      `   ${query
        .replace('$1', `'{${changes.clientIds.join(',')}}'`)
        .replace('$2', `'{${changes.patientIds.join(',')}}'`)
        .replace(/\n/g, '\n   ')};`,
    );
    say();
    say(formatRows(result.rows as Record<string, unknown>[]).replace(/^/gm, '   '));
    say();
    const dataDir = db.embeddedDataDir ?? config.database.embedded.dataDir;
    if (!serve) {
      if (db.publicUrl) {
        say(`The embedded PostgreSQL has stopped with the demo; its data stays in ${dataDir}.`);
        say('To look at the mirror with psql or Metabase, run `provet-sync demo --serve` (`npm run demo -- --serve`):');
        say('it keeps the database and the simulated clinic up until Ctrl-C, for');
        say(`   PGPASSFILE=${db.embeddedPasswordFile} psql ${db.publicUrl}`);
        say(
          `(connection string ${db.connectionString}; the password is kept in that file, readable by its owner only).`,
        );
      } else {
        say(`The mirror stays in ${db.description}, schema ${DEMO_SCHEMA}.`);
      }
      return 0;
    }
    // Listening for the stop signal before saying how to connect: a signal sent on reading that is not missed.
    const stopped = serve();
    for (const line of serveInstructions(db.connectionString, db.embeddedPasswordFile, sim)) say(line);
    const signal = await stopped;
    say();
    say(
      db.publicUrl
        ? `${signal}: stopping the simulator and the embedded PostgreSQL; its data stays in ${dataDir}.`
        : `${signal}: stopping the simulator.`,
    );
    return 0;
  } finally {
    await provet.close();
    await db.close();
    await sim.close();
  }
}

/**
 * How to reach the mirror (and the simulated clinic) while the demo serves. The embedded server's
 * password is shown, in its connection string: it is the local user's own, generated for this data
 * folder (`passwordFile`, unset with DATABASE_URL). A DATABASE_URL's password never is.
 */
function serveInstructions(
  url: string,
  passwordFile: string | undefined,
  sim: { baseUrl: string; clientId: string; clientSecret: string },
): string[] {
  const embedded = passwordFile !== undefined;
  const u = new URL(url);
  const host = u.hostname;
  const port = u.port || '5432';
  const database = decodeURIComponent(u.pathname.slice(1)) || 'postgres';
  const user = decodeURIComponent(u.username) || 'postgres';
  const password = embedded ? decodeURIComponent(u.password) : u.password ? 'the one in DATABASE_URL' : 'none';
  const credentials = embedded ? `${encodeURIComponent(user)}:${u.password}` : encodeURIComponent(user);
  const psqlUrl = `postgres://${credentials}@${host}:${port}/${encodeURIComponent(database)}`;
  return [
    '7. Serving until Ctrl-C: the mirror and the simulated clinic stay up.',
    '',
    // The password stays off psql's command line, which every local user can read (ps).
    `   psql:      ${embedded ? `PGPASSFILE=${passwordFile} psql postgres://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}` : 'psql "$DATABASE_URL"'}`,
    ...(embedded ? [`              (connection string ${psqlUrl})`] : []),
    `              then: SET search_path TO ${DEMO_SCHEMA};`,
    '   Metabase:  Admin → Databases → Add → PostgreSQL, with',
    `              host ${host}, port ${port}, database name ${database}, username ${user}, password ${password},`,
    `              and under "Schemas", "Only these…": ${DEMO_SCHEMA}`,
    ...(embedded
      ? [`              (the embedded PostgreSQL listens on ${host} only: Metabase must run on this machine)`]
      : []),
    `   Provet API (simulated): ${sim.baseUrl}   OAuth2 client ${sim.clientId}, secret ${sim.clientSecret}`,
    `   Sync again:  PROVET_BASE_URL=${sim.baseUrl} PROVET_CLIENT_ID=${sim.clientId} PROVET_CLIENT_SECRET=${sim.clientSecret} \\`,
    `                PROVET_DB_SCHEMA=${DEMO_SCHEMA}${embedded ? ` DATABASE_URL=${psqlUrl}` : ''} npx provet-sync sync`,
    '',
  ];
}

interface ClinicChanges {
  descriptions: string[];
  clientIds: number[];
  patientIds: number[];
}

type DemoSimulator = Awaited<ReturnType<typeof import('./simulator/index.js').startSimulator>>;

/** An edit, an archive, a death and a custom value: the everyday changes a mirror must follow. */
function makeClinicChanges(sim: DemoSimulator): ClinicChanges {
  const state = sim.exportState();
  const num = (v: unknown) => Number(v);
  const activeClients = state.clients.filter((c) => c.archived === false);
  const livingPatients = state.patients.filter(
    (p) => p.archived === false && (p.deceased === null || p.deceased === ''),
  );
  const edited = activeClients[0]!;
  const archived = activeClients[1]!;
  const others = livingPatients.filter((p) => p.client !== archived.url);
  const deceased = others[0]!;
  const patientField = state.customFields.find(
    (f) => String(f.model).toLowerCase().includes('patient') && f.type === 'text',
  );
  const today = sim.now().toISOString().slice(0, 10);

  sim.updateClient(num(edited.id), { email: 'new.address@example.com' });
  sim.updateClient(num(archived.id), { archived: true });
  sim.updatePatient(num(deceased.id), { deceased: today });
  const descriptions = [
    `client ${String(edited.id)} changed email to new.address@example.com`,
    `client ${String(archived.id)} was archived (with its patients)`,
    `patient ${String(deceased.id)} (${String(deceased.name)}) died on ${today}`,
  ];
  const patientIds = [num(deceased.id)];
  if (patientField) {
    const target = others[1]!;
    sim.updatePatient(num(target.id), {
      fields_rel: [{ field_id: num(patientField.id), value: 'Seen in the demo' }],
    });
    descriptions.push(
      `patient ${String(target.id)} got custom field "${String(patientField.label)}" = Seen in the demo`,
    );
    patientIds.push(num(target.id));
  }
  return { descriptions, clientIds: [num(edited.id), num(archived.id)], patientIds };
}

function landed(
  outcome: RunOutcome,
): outcome is Extract<RunOutcome, { runId: number }> & { status: 'succeeded' | 'partial' } {
  return outcome.status === 'succeeded' || outcome.status === 'partial';
}

function fail(say: (line?: string) => void, outcome: RunOutcome): number {
  say(
    `the demo's sync did not land: ${outcome.status === 'locked' ? 'another run holds the lock' : (outcome.error?.message ?? outcome.status)}`,
  );
  return 1;
}

function describe(outcome: Extract<RunOutcome, { runId: number }>): string {
  const s = outcome.streams;
  const part = (name: string) => `${s[name]?.written ?? 0} ${name.replace('_', ' ')}`;
  return `${part('clients')}, ${part('patients')}, ${part('custom_fields')} definitions, ${part('species')}, ${part('breeds')} written; ${outcome.requests} API requests`;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function formatRows(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const text = (v: unknown): string =>
    v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  const cells = rows.map((r) => columns.map((c) => text(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join(' | ');
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)].join('\n');
}
