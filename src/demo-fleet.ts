// `provet-sync demo --fleet`: fleet mode in one command, with no Provet account and no database to
// set up. Three simulated installations are registered with `installations apply` (their client
// secrets in files of a temporary folder: the registry holds the paths), two `provet-sync worker`
// child processes mirror them, one worker is killed with SIGKILL mid-run and the other lands what
// came after, a query runs across the installations, and the survivor stops on SIGTERM.
//
// Everything is in schemas of the demo's own (the registry in provet_demo_fleet, the mirrors in
// provet_demo_<name>, the views across them in provet_demo_all), recreated each time.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from './config.js';
import { openDatabase, quoteIdent, type Database } from './db/connect.js';
import { migrateControlSchema } from './db/migrate.js';
import { EXIT } from './exit-codes.js';
import { formatFleetStatus, readFleetStatus } from './fleet/fleet-status.js';
import { parseInstallationsArgs, runInstallationsCommand } from './fleet/installations-command.js';
import { FleetDemoError, spawnWorker, waitFor, within, type WorkerChild } from './fleet/worker-children.js';
import { queueSchemaOf } from './fleet/queue.js';
import type { Logger } from './log.js';
import type { Simulator } from './simulator/index.js';
import { textTable } from './text-table.js';

const CONTROL_SCHEMA = 'provet_demo_fleet';
/** The demo's own views across its installations (PROVET_GROUP_SCHEMA), apart from a real fleet's. */
const GROUP_SCHEMA = 'provet_demo_all';
const QUEUE_SCHEMA = queueSchemaOf(CONTROL_SCHEMA);
const SCHEDULE = '*/3 * * * * *'; // every three seconds
const TICK_SECONDS = 1;
const LEASE_SECONDS = 5;
const PAGE_SIZE = 50;
const SITES = [
  { name: 'helsinki', provetId: '1101', clients: 300, seed: 11 },
  { name: 'oslo', provetId: '1102', clients: 200, seed: 12 },
  { name: 'tallinn', provetId: '1103', clients: 100, seed: 13 },
] as const;
/** Bounds of each wait: a step that takes longer fails the demo with what it waited for. */
const WAIT_MS = {
  workersUp: 45_000,
  converge: 60_000,
  runStarts: 30_000,
  failover: 45_000,
  views: 30_000,
  stop: 20_000,
};

interface Site {
  name: string;
  provetId: string;
  schema: string;
  sim: Simulator;
}

interface FleetDemoOptions {
  config: Config;
  logger: Logger;
  /** The environment the workers inherit (DATABASE_URL and the workers' settings are set over it). */
  env: NodeJS.ProcessEnv;
  serve: boolean;
  out?: Writable;
  err?: Writable;
}

export async function runFleetDemo({
  config,
  logger,
  env,
  serve,
  out = process.stdout,
  err = process.stderr,
}: FleetDemoOptions): Promise<number> {
  if (serve) {
    err.write('provet-sync: --serve does not apply to demo --fleet (run `provet-sync demo --serve` for one clinic)\n');
    return EXIT.usage;
  }
  const say = (line = '') => out.write(`${line}\n`);
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new FleetDemoError(`${signal}: the demo was stopped`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const sites: Site[] = [];
  const workers: WorkerChild[] = [];
  let db: Database | undefined;
  let secretsDir: string | undefined;
  try {
    const { startSimulator } = await import('./simulator/index.js');
    for (const s of SITES) {
      const sim = await startSimulator({
        clients: s.clients,
        seed: s.seed,
        provetId: s.provetId,
        clientId: `provet-sync-demo-${s.name}`,
        clientSecret: randomBytes(18).toString('base64url'),
      });
      sites.push({ name: s.name, provetId: s.provetId, schema: `provet_demo_${s.name}`, sim });
    }
    say('1. Three simulated Provet installations, each with its own provet id, OAuth2 client and secret:');
    say(
      indent(
        textTable(
          sites.map((s) => [
            s.name,
            `provet id ${s.provetId}`,
            `${s.sim.exportState().clients.length} clients`,
            s.sim.baseUrl,
          ]),
        ),
      ),
    );

    db = await openDatabase({ ...config.database, schema: CONTROL_SCHEMA }, logger);
    for (const schema of [GROUP_SCHEMA, CONTROL_SCHEMA, QUEUE_SCHEMA, ...sites.map((s) => s.schema)])
      await db.pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
    await migrateControlSchema(db.pool, CONTROL_SCHEMA, logger);

    secretsDir = await mkdtemp(join(tmpdir(), 'provet-sync-demo-fleet-'));
    const fleetFile = join(secretsDir, 'fleet.json');
    const entries = [];
    for (const site of sites) {
      const secretFile = join(secretsDir, `${site.name}.secret`);
      await writeFile(secretFile, `${site.sim.clientSecret}\n`, { mode: 0o600 });
      entries.push({
        name: site.name,
        baseUrl: site.sim.baseUrl,
        clientId: site.sim.clientId,
        clientSecretFile: secretFile,
        schema: site.schema,
        schedule: SCHEDULE,
        reconcileSchedule: 'off',
      });
    }
    await writeFile(fleetFile, `${JSON.stringify({ installations: entries }, null, 2)}\n`);
    const applied = collector();
    await runInstallationsCommand(parseInstallationsArgs(['apply', fleetFile]), {
      pool: db.pool,
      controlSchema: CONTROL_SCHEMA,
      groupSchema: GROUP_SCHEMA,
      out: applied.stream,
      err,
    });
    say(`2. Registered with \`provet-sync installations apply ${fleetFile}\`,`);
    say(`   in the registry schema ${CONTROL_SCHEMA} of ${db.publicUrl ?? db.description} (recreated for the demo);`);
    say(`   each client secret is a file in ${secretsDir}: the registry holds its path, never the secret.`);
    say(`   Every installation syncs every 3 seconds (schedule '${SCHEDULE}'):`);
    say(indent(applied.text().trimEnd()));

    const workerEnv = workerEnvironment(env, db.connectionString, config.logLevelExplicit);
    for (const n of [1, 2]) workers.push(spawnWorker(n, workerEnv, err));
    await waitFor(
      'the two workers to start (their heartbeats in the registry)',
      WAIT_MS.workersUp,
      stop.signal,
      workers,
      async () => {
        const { rows } = await db!.pool.query<{ pid: number }>(
          `SELECT pid FROM ${quoteIdent(CONTROL_SCHEMA)}.worker_heartbeats`,
        );
        return workers.every((w) => rows.some((r) => r.pid === w.child.pid));
      },
    );
    say(
      `3. Two workers (\`provet-sync worker\`, tick ${TICK_SECONDS} s, lease ${LEASE_SECONDS} s): ${workers.map((w) => `worker ${w.n} pid ${w.child.pid}`).join(', ')}`,
    );

    say('4. Converging (clients and patients mirrored / at the source):');
    const convergeStart = Date.now();
    const shown = new Map<string, string>();
    await waitFor('every installation to converge', WAIT_MS.converge, stop.signal, workers, async () => {
      let all = true;
      for (const site of sites) {
        const at = await mirrorCounts(db!, site);
        const state = site.sim.exportState();
        const done = at.clients === state.clients.length && at.patients === state.patients.length;
        all &&= done;
        const line = `${site.name.padEnd(9)} ${at.clients}/${state.clients.length} clients, ${at.patients}/${state.patients.length} patients${done ? ': converged' : ''}`;
        if (shown.get(site.name) !== line) {
          shown.set(site.name, line);
          say(`   ${seconds(convergeStart).padStart(6)}  ${line}`);
        }
      }
      return all;
    });
    const { installations } = await readFleetStatus(db.pool, CONTROL_SCHEMA);
    say('   `provet-sync status --all`:');
    say(indent(formatFleetStatus(installations).trimEnd()));

    await failover(db, sites[0]!, workers, say, stop.signal);
    const survivor = workers.find((w) => !w.stopping)!;

    const query = `SELECT c.installation, c.clients, p.patients
FROM (SELECT installation, count(*) AS clients FROM ${GROUP_SCHEMA}.active_clients GROUP BY 1) c
JOIN (SELECT installation, count(*) AS patients FROM ${GROUP_SCHEMA}.active_patients GROUP BY 1) p USING (installation)
ORDER BY 1`;
    await waitFor(
      `the views across installations (${GROUP_SCHEMA}) to cover all three`,
      WAIT_MS.views,
      stop.signal,
      workers,
      async () => {
        const { rows } = await db!.pool
          .query<{ n: string }>(`SELECT count(DISTINCT installation) AS n FROM ${GROUP_SCHEMA}.active_clients`)
          .catch(() => ({ rows: [{ n: '0' }] }));
        return Number(rows[0]!.n) === sites.length;
      },
    );
    const result = await db.pool.query<{ installation: string; clients: string; patients: string }>(query);
    say(`6. A query across the installations (the workers keep the views in ${GROUP_SCHEMA} up to date):`);
    say();
    say(indent(`${query};`));
    say();
    say(
      indent(
        textTable([
          ['installation', 'clients', 'patients'],
          ...result.rows.map((r) => [r.installation, String(r.clients), String(r.patients)]),
        ]),
      ),
    );
    say();

    survivor.stopping = true;
    survivor.child.kill('SIGTERM');
    const exit = await within(survivor.exited, WAIT_MS.stop, `worker ${survivor.n} to stop on SIGTERM`);
    if (exit.code !== 0)
      throw new FleetDemoError(
        `worker ${survivor.n} exited with ${exit.code ?? exit.signal} on SIGTERM, not 0:\n${survivor.tail.join('\n')}`,
      );
    say(`7. SIGTERM to worker ${survivor.n}: it took no new run, let the page in hand land, and exited 0.`);
    say();
    say(
      `The registry stays in schema ${CONTROL_SCHEMA}, the mirrors in ${sites.map((s) => s.schema).join(', ')}, the views in ${GROUP_SCHEMA}` +
        (db.embeddedDataDir
          ? `;\nthe embedded PostgreSQL has stopped with the demo, its data in ${db.embeddedDataDir}` +
            ` (its password in ${db.embeddedPasswordFile}).`
          : '.'),
    );
    return EXIT.ok;
  } catch (error) {
    if (stop.signal.aborted) {
      say();
      say(`${(stop.signal.reason as Error).message}: stopping the workers and the simulators.`);
      return EXIT.ok;
    }
    if (!(error instanceof FleetDemoError)) throw error;
    err.write(`provet-sync: demo --fleet: ${error.message}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.all(
      workers.map(async (w) => {
        w.stopping = true;
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        await w.exited;
      }),
    );
    await db?.close();
    for (const site of sites) await site.sim.close();
    if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
  }
}

/**
 * Step 5: the next run of `site` is made slow (many changed clients, a slow API), the worker that
 * runs it is killed with SIGKILL, a record changes at the clinic, and the other worker lands it
 * once the lease of the dead one has run out.
 */
async function failover(
  db: Database,
  site: Site,
  workers: WorkerChild[],
  say: (line?: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const changed = site.sim.exportState().clients.slice(0, 150);
  site.sim.setFaults('GET client/', { latencyMs: 500 });
  for (const c of changed) site.sim.updateClient(Number(c.id), { city: 'Porvoo' });
  say(
    `5. Failover: at ${site.name}, ${changed.length} clients move to Porvoo, and its API slows to 0.5 s a page, so its next run takes a while.`,
  );
  const ids = changed.map((c) => Number(c.id));
  const moved = () => countIn(db, site, `id = ANY($1) AND city = 'Porvoo'`, [ids]);
  // Killed mid-run: once its job is taken and a page of the changes has landed.
  const { pid, landedBefore } = await waitFor(
    `a run of ${site.name} to start and land a page`,
    WAIT_MS.runStarts,
    signal,
    workers,
    async () => {
      const { rows } = await db.pool.query<{ pid: number }>(
        `SELECT h.pid FROM ${quoteIdent(QUEUE_SCHEMA)}.jobs j
         JOIN ${quoteIdent(CONTROL_SCHEMA)}.worker_heartbeats h ON j.locked_by = ANY (h.slot_ids)
         WHERE j.key = $1 AND j.locked_at IS NOT NULL`,
        [`sync:${site.name}`],
      );
      if (rows[0] === undefined) return undefined;
      const landed = await moved();
      return landed > 0 ? { pid: rows[0].pid, landedBefore: landed } : undefined;
    },
  );
  const victim = workers.find((w) => w.child.pid === pid);
  if (!victim)
    throw new FleetDemoError(`the run of ${site.name} is held by pid ${pid}, not by one of the demo's workers`);
  victim.stopping = true;
  victim.child.kill('SIGKILL');
  await within(victim.exited, WAIT_MS.stop, `worker ${victim.n} to die`);
  const killedAt = Date.now();
  say(
    `   worker ${victim.n} (pid ${pid}) is running ${site.name}'s sync (${landedBefore} of ${changed.length} changes landed so far): SIGKILL.`,
  );
  site.sim.setFaults('GET client/', null);
  const client = site.sim.exportState().clients[changed.length + 10]!;
  const email = 'moved.after.the.kill@example.com';
  site.sim.updateClient(Number(client.id), { email });
  say(`   Meanwhile at ${site.name}: client ${String(client.id)} changes email to ${email}.`);
  const survivor = workers.find((w) => !w.stopping)!;
  await waitFor(`worker ${survivor.n} to land the change`, WAIT_MS.failover, signal, workers, async () => {
    const emailed = await countIn(db, site, 'id = $1 AND email = $2', [Number(client.id), email]);
    return emailed === 1 && (await moved()) === changed.length;
  });
  say(
    `   worker ${survivor.n} (pid ${survivor.child.pid}) took the run over and landed it ${seconds(killedAt)} after the kill` +
      ` (once the dead worker's last heartbeat was older than the lease, ${LEASE_SECONDS} s).`,
  );
  const { rows } = await db.pool.query<{ id: number; error: string | null }>(
    `SELECT id, error FROM ${quoteIdent(site.schema)}.sync_runs WHERE status = 'failed' ORDER BY id DESC LIMIT 1`,
  );
  if (rows[0]) say(`   The killed run (${site.name}'s run ${rows[0].id}) is recorded as failed: ${rows[0].error}`);
}

/** The environment of a worker: the demo's, with the database, the registry and short intervals set over it. */
function workerEnvironment(env: NodeJS.ProcessEnv, databaseUrl: string, logLevelExplicit: boolean) {
  const settings: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    PROVET_CONTROL_SCHEMA: CONTROL_SCHEMA,
    PROVET_GROUP_SCHEMA: GROUP_SCHEMA,
    WORKER_CONCURRENCY: '2',
    WORKER_TICK_SECONDS: String(TICK_SECONDS),
    WORKER_LEASE_SECONDS: String(LEASE_SECONDS),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    PROVET_PAGE_SIZE: String(PAGE_SIZE),
    PROVET_RETRY_DEADLINE_SECONDS: '20',
    LOG_FORMAT: 'json',
  };
  const merged: Record<string, string | undefined> = { ...env, ...settings, PROVET_SYNC_CRASH_AT: '' };
  // NAME_FILE beside NAME is refused: the demo's settings win over files of the same names.
  for (const name of Object.keys(settings)) merged[`${name}_FILE`] = '';
  if (!logLevelExplicit) merged.LOG_LEVEL = 'warn';
  return merged;
}

/** Rows of the mirror's clients and patients (0 before its first run made the tables). */
async function mirrorCounts(db: Database, site: Site): Promise<{ clients: number; patients: number }> {
  const { rows } = await db.pool.query<{ ready: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ready', [
    `${quoteIdent(site.schema)}.patients`,
  ]);
  if (!rows[0]?.ready) return { clients: 0, patients: 0 };
  const s = quoteIdent(site.schema);
  const counts = await db.pool.query<{ clients: string; patients: string }>(
    `SELECT (SELECT count(*) FROM ${s}.clients) AS clients, (SELECT count(*) FROM ${s}.patients) AS patients`,
  );
  return { clients: Number(counts.rows[0]!.clients), patients: Number(counts.rows[0]!.patients) };
}

async function countIn(db: Database, site: Site, where: string, params: unknown[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${quoteIdent(site.schema)}.clients WHERE ${where}`,
    params,
  );
  return Number(rows[0]!.n);
}

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

function indent(text: string): string {
  return text.replace(/^/gm, '     ');
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
