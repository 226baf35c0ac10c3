// The fleet's command lines, as the CLI (cli.ts) hands them over: `installations ...`, `worker`,
// and `status NAME` / `status --all`. Each opens the database (DATABASE_URL, or the embedded
// one), brings the registry's schema up to date, does its work and closes what it opened; none
// touches a mirror's schema except through the runs a worker starts.
import { loadConfig, type Config } from '../config.js';
import { openDatabase, withTransaction, type Database } from '../db/connect.js';
import { grantGroupReader, revokeGroupReader } from '../db/control/group-views.js';
import { listInstallations } from '../db/control/registry.js';
import { describeIdentityFreeGrant, identityFreeSchemaName } from '../db/identity-free-views.js';
import { ensureReaderRole, grantIdentityFreeReader, grantReader } from '../db/roles.js';
import { migrateControlSchema, migrateSchema } from '../db/migrate.js';
import { EXIT } from '../exit-codes.js';
import type { Failpoints } from '../failpoints.js';
import { createCommandLogger, type Logger } from '../log.js';
import { formatStatus } from '../status-format.js';
import { formatFleetStatus, readFleetStatus } from './fleet-status.js';
import {
  INSTALLATIONS_USAGE,
  InstallationsInputError,
  parseInstallationsArgs,
  runInstallationsCommand,
} from './installations-command.js';
import { startWorker } from './worker.js';

async function withControlDatabase<T>(config: Config, logger: Logger, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config.database, logger);
  try {
    await migrateControlSchema(db.pool, config.fleet.controlSchema, logger);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** `installations ...`: its own words and flags are checked before the configuration is read. */
export async function runInstallationsCommandLine(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(`${INSTALLATIONS_USAGE}\n`);
    return EXIT.ok;
  }
  try {
    const parsed = parseInstallationsArgs(args);
    const config = loadConfig(env, { needsProvet: false, command: 'installations' });
    // Its stdout is its answer (a table, JSON, what apply did): log lines go to stderr.
    const logger = await createCommandLogger(config.logLevel, { fd: 2, format: config.logFormat });
    await withControlDatabase(config, logger, (db) =>
      runInstallationsCommand(parsed, {
        pool: db.pool,
        controlSchema: config.fleet.controlSchema,
        groupSchema: config.fleet.groupSchema,
        out: process.stdout,
        err: process.stderr,
      }),
    );
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof InstallationsInputError)) throw err;
    process.stderr.write(`provet-sync: ${err.message}\n`);
    return EXIT.usage;
  }
}

/**
 * `worker`: runs until `signal` (SIGTERM, SIGINT) and its runs in flight have handed back; serves
 * /healthz, /readyz and /metrics on HTTP_HOST:HTTP_PORT meanwhile.
 */
export async function runWorkerCommand(
  config: Config,
  logger: Logger,
  signal: AbortSignal,
  failpoints: Failpoints,
): Promise<number> {
  return withControlDatabase(config, logger, async (db) => {
    const worker = await startWorker(
      {
        connectionString: db.connectionString,
        ...(db.clientClass ? { clientClass: db.clientClass } : {}),
        config,
        logger,
        failpoints,
        http: { host: config.daemon.httpHost, port: config.daemon.httpPort },
      },
      signal,
    );
    return (await worker.done) === 'slots lost' ? EXIT.failed : EXIT.ok;
  });
}

/** `status NAME` (one installation, with its mirror's detail) or `status --all` (a table). */
export async function runFleetStatusCommand(
  config: Config,
  logger: Logger,
  flags: { all: boolean; json: boolean; positionals: string[] },
): Promise<number> {
  return withControlDatabase(config, logger, async (db) => {
    const { installations, unknown } = await readFleetStatus(
      db.pool,
      config.fleet.controlSchema,
      flags.all ? undefined : flags.positionals,
    );
    if (unknown.length > 0) {
      process.stderr.write(`provet-sync: no installation named ${unknown.join(', ')}\n`);
      return EXIT.usage;
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(flags.all ? installations : installations[0], null, 2)}\n`);
    } else if (flags.all) {
      process.stdout.write(formatFleetStatus(installations));
    } else {
      const one = installations[0]!;
      process.stdout.write(formatFleetStatus([one]));
      if (one.mirror) process.stdout.write(`\n${formatStatus(one.mirror)}`);
    }
    return EXIT.ok;
  });
}

/**
 * `grant-reader ROLE --installation NAME ... [--group]`: read access to those installations'
 * mirrors (each as `grant-reader` gives a single mirror), and with --group to the views across
 * every installation (provet_all), which show every installation's rows whatever else is granted.
 * With --no-identities (not with --group, which the CLI refuses) each installation's identity-free
 * views instead, as `grant-reader --no-identities` gives them for a single mirror.
 */
export async function runFleetGrantReaderCommand(
  config: Config,
  logger: Logger,
  role: string,
  options: { installations: string[]; group: boolean; noIdentities: boolean },
): Promise<number> {
  return withControlDatabase(config, logger, async (db) => {
    const registered = await listInstallations(db.pool, config.fleet.controlSchema);
    const unknown = options.installations.filter((n) => !registered.some((i) => i.name === n));
    if (unknown.length > 0) {
      process.stderr.write(`provet-sync: no installation named ${unknown.join(', ')}\n`);
      return EXIT.usage;
    }
    const schemaOf = (name: string) => registered.find((i) => i.name === name)!.mirrorSchema;
    if (options.noIdentities) {
      const invalid = options.installations.flatMap((name) => {
        try {
          identityFreeSchemaName(schemaOf(name));
          return [];
        } catch (err) {
          return [`${name}: ${(err as Error).message}`];
        }
      });
      if (invalid.length > 0) {
        process.stderr.write(invalid.map((line) => `provet-sync: ${line}\n`).join(''));
        return EXIT.usage;
      }
      const grants = [];
      for (const name of options.installations) {
        const mirror = schemaOf(name);
        await migrateSchema(db.pool, mirror, logger, { writesMirror: false });
        grants.push({ mirror, ...(await grantIdentityFreeReader(db.pool, mirror, role)) });
      }
      // The views across installations show every column: a role that had them loses them.
      const group = config.fleet.groupSchema;
      const hadGroup = await withTransaction(db.pool, async (client) => {
        await ensureReaderRole(client, role);
        return revokeGroupReader(client, role, group);
      });
      const { out, warning } = describeIdentityFreeGrant(role, grants);
      process.stdout.write(out);
      if (hadGroup) process.stdout.write(`${role} may not read the views across installations (schema ${group}).\n`);
      if (warning) process.stderr.write(warning);
      return EXIT.ok;
    }
    const lines: string[] = [];
    for (const name of options.installations) {
      const schema = schemaOf(name);
      // Its tables exist before the first run does (the grant names them).
      await migrateSchema(db.pool, schema, logger, { writesMirror: false });
      await grantReader(db.pool, schema, role);
      lines.push(`${role} may read the mirror of ${name} (schema ${schema})`);
    }
    if (options.group) {
      await withTransaction(db.pool, async (client) => {
        await ensureReaderRole(client, role);
        await grantGroupReader(client, role, config.fleet.groupSchema);
      });
      lines.push(`${role} may read the views across every installation (schema ${config.fleet.groupSchema})`);
    }
    process.stdout.write(
      `${lines.join('\n')}\nLog in as a member of it, e.g.: CREATE ROLE metabase LOGIN PASSWORD '...' IN ROLE ${role};\n`,
    );
    return EXIT.ok;
  });
}
