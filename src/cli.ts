#!/usr/bin/env node
// provet-sync's entry point: argv -> command. The one place that reads the configuration and
// wires the pieces together (logger, database, API client, engine, scheduler).
//
// Exit codes: 0 the run landed (rejected records or not) or the process was asked to stop,
// 1 the run failed (watermark unchanged), 2 bad configuration or usage, 3 another run holds
// the lock and nothing was done.
import './v8-flags.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, readFailpointSpec, type Config, type ProvetConfig } from './config.js';
import { openDatabase, type Database } from './db/connect.js';
import { migrateSchema } from './db/migrate.js';
import { failpointsFrom } from './failpoints.js';
import { createCommandLogger, type Logger } from './log.js';
import { ProvetClient } from './provet/client.js';
import type { RunOutcome } from './sync/run.js';

// Each command's own modules (the daemon's HTTP server and metrics, the simulator, the demo, ...)
// are imported when that command runs: a `sync` from cron starts without loading what it never uses.

import { EXIT } from './exit-codes.js';
import { USAGE } from './usage.js';

export { EXIT };

/**
 * Commands whose stdout is their answer (a table, JSON, findings, a person's tour) log on stderr,
 * so that `status --json | jq .` reads JSON only. The others log on stdout: a container's log
 * collector reads it, and `sync` and `daemon` have nothing else to say there.
 */
const LOGS_ON_STDERR = new Set(['status', 'reconcile', 'purge', 'grant-reader', 'demo']);

class UsageError extends Error {}

export function buildProvetClient(config: ProvetConfig, logger: Logger): ProvetClient {
  return new ProvetClient({
    baseUrl: config.baseUrl,
    auth: config.auth,
    logger: logger.child({ component: 'provet' }),
    requestTimeoutMs: config.requestTimeoutMs,
    retryDeadlineMs: config.retryDeadlineMs,
    maxBodyBytes: config.maxBodyBytes,
    rateWindowMs: config.rateWindowMs,
  });
}

/**
 * Opens the database, applies pending migrations, and hands it to fn; always closes it.
 * `writesMirror: false` for commands that only read or grant (status, grant-reader): they do not
 * need the privileges the sync's writes do.
 */
async function withDatabase<T>(
  config: Config,
  logger: Logger,
  fn: (db: Database) => Promise<T>,
  options: { writesMirror?: boolean } = {},
): Promise<T> {
  const db = await openDatabase(config.database, logger);
  try {
    if (db.publicUrl)
      logger.info(
        { database: db.publicUrl, passwordFile: db.embeddedPasswordFile },
        `embedded PostgreSQL ready: PGPASSFILE=${db.embeddedPasswordFile} psql ${db.publicUrl}`,
      );
    await migrateSchema(db.pool, db.schema, logger, options);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** For commands that talk to Provet: a stop signal, the API client and the database, each closed after. */
async function withProvetAndDatabase(
  config: Config,
  logger: Logger,
  fn: (provet: ProvetClient, signal: AbortSignal, db: Database) => Promise<number>,
): Promise<number> {
  const signal = stopSignal(logger);
  const provet = buildProvetClient(config.provet!, logger);
  try {
    return await withDatabase(config, logger, (db) => fn(provet, signal, db));
  } finally {
    await provet.close();
  }
}

/** SIGTERM/SIGINT ask the work to stop after the current page; a second signal exits at once. */
function stopSignal(logger: Logger): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT.failed);
    }
    logger.info({ signal }, 'stopping after the current page lands');
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return controller.signal;
}

function exitCodeOf(outcome: RunOutcome): number {
  if (outcome.status === 'locked') return EXIT.locked;
  if (outcome.status === 'failed') return outcome.stopped ? EXIT.ok : EXIT.failed;
  return EXIT.ok;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    if (command === undefined) {
      process.stderr.write(`${USAGE}\n`);
      return EXIT.usage;
    }
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (command === 'simulate') {
    const { runSimulateCommand } = await import('./simulator/cli.js');
    await runSimulateCommand(rest);
    return EXIT.ok;
  }
  if (command === 'installations') {
    const { runInstallationsCommandLine } = await import('./fleet/commands.js');
    return runInstallationsCommandLine(rest, process.env);
  }
  const flags = parseFlags(command, rest);
  const config = loadConfig(process.env, {
    needsProvet: command === 'sync' || command === 'daemon' || command === 'reconcile',
    command,
  });
  // Test-only failpoints (PROVET_SYNC_CRASH_AT, checked by loadConfig): kept out of Config.
  const failpoints = failpointsFrom(readFailpointSpec(process.env));
  // The demo speaks to a person: only warnings and errors as log lines, unless asked for more.
  const logger = await createCommandLogger(command === 'demo' && !config.logLevelExplicit ? 'warn' : config.logLevel, {
    fd: LOGS_ON_STDERR.has(command) ? 2 : 1,
    format: config.logFormat,
  });

  switch (command) {
    case 'migrate':
      return withDatabase(config, logger, (db) => {
        logger.info({ schema: db.schema, database: db.description }, 'migrations applied');
        return Promise.resolve(EXIT.ok);
      });
    case 'status':
      if (flags.all || flags.positionals.length > 0) {
        const { runFleetStatusCommand } = await import('./fleet/commands.js');
        return runFleetStatusCommand(config, logger, flags);
      }
      return withDatabase(
        config,
        logger,
        async (db) => {
          const [{ readStatus }, { formatStatus }] = await Promise.all([
            import('./db/status.js'),
            import('./status-format.js'),
          ]);
          const status = await readStatus(db.pool, db.schema);
          process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
          return EXIT.ok;
        },
        { writesMirror: false },
      );
    case 'sync': {
      const { runSync } = await import('./sync/run.js');
      return withProvetAndDatabase(config, logger, async (provet, signal, db) => {
        const outcome = await runSync(
          {
            pool: db.pool,
            schema: db.schema,
            provet,
            logger,
            pageSize: config.provet!.pageSize,
            lookbackSeconds: config.sync.lookbackSeconds,
            signal,
            failpoints,
          },
          { full: flags.full },
        );
        if (outcome.status === 'failed' && !outcome.stopped)
          process.stderr.write(`provet-sync: sync failed: ${outcome.error?.message}\n`);
        if (outcome.status === 'locked')
          process.stderr.write('provet-sync: another run holds the lock for this schema; nothing done\n');
        return exitCodeOf(outcome);
      });
    }
    case 'daemon': {
      const { runDaemonCommand } = await import('./daemon/command.js');
      return withProvetAndDatabase(config, logger, (provet, signal, db) =>
        runDaemonCommand(config, logger, db, provet, signal, failpoints),
      );
    }
    case 'reconcile': {
      const { runReconcile } = await import('./sync/reconcile.js');
      return withProvetAndDatabase(config, logger, async (provet, signal, db) => {
        const outcome = await runReconcile({
          pool: db.pool,
          schema: db.schema,
          provet,
          logger,
          pageSize: config.provet!.pageSize,
          signal,
          failpoints,
        });
        if (outcome.status === 'locked') {
          process.stderr.write('provet-sync: another run holds the lock for this schema; nothing done\n');
          return EXIT.locked;
        }
        process.stdout.write(
          `${JSON.stringify({ runId: outcome.runId, status: outcome.status, requests: outcome.requests, streams: outcome.streams })}\n`,
        );
        if (outcome.status === 'failed')
          process.stderr.write(`provet-sync: reconcile failed: ${outcome.error?.message}\n`);
        return outcome.status === 'failed' ? EXIT.failed : EXIT.ok;
      });
    }
    case 'purge': {
      const [{ dryRunPurge, runPurge }, { describePurge }] = await Promise.all([
        import('./sync/purge.js'),
        import('./purge-report.js'),
      ]);
      return withDatabase(config, logger, async (db) => {
        if (flags.dryRun) {
          const counts = await dryRunPurge({ pool: db.pool, schema: db.schema }, config.retention);
          if (counts === 'locked') {
            process.stderr.write('provet-sync: another run holds the lock for this schema; nothing done\n');
            return EXIT.locked;
          }
          process.stdout.write(describePurge(counts, config.retention, { dryRun: true }));
          return EXIT.ok;
        }
        const outcome = await runPurge({ pool: db.pool, schema: db.schema, logger }, config.retention);
        if (outcome.status === 'locked') {
          process.stderr.write('provet-sync: another run holds the lock for this schema; nothing done\n');
          return EXIT.locked;
        }
        if (outcome.status === 'failed') {
          process.stderr.write(`provet-sync: purge failed: ${outcome.error?.message}\n`);
          return EXIT.failed;
        }
        process.stdout.write(describePurge(outcome.counts!, config.retention, { dryRun: false, runId: outcome.runId }));
        return EXIT.ok;
      });
    }
    case 'grant-reader': {
      const { grantIdentityFreeReader, grantReader, ROLE_NAME } = await import('./db/roles.js');
      const role = flags.positionals[0]!;
      if (!ROLE_NAME.test(role))
        throw new UsageError(`role name '${role}' must be a lower-case SQL identifier (letters, digits, _)`);
      if (flags.noIdentities && flags.group)
        throw new UsageError(
          '--no-identities does not apply to --group: the views across installations show every column; ' +
            'grant --no-identities per installation with --installation NAME',
        );
      if (flags.installation.length > 0 || flags.group) {
        const { runFleetGrantReaderCommand } = await import('./fleet/commands.js');
        return runFleetGrantReaderCommand(config, logger, role, {
          installations: flags.installation,
          group: flags.group,
          noIdentities: flags.noIdentities,
        });
      }
      if (flags.noIdentities) {
        const { describeIdentityFreeGrant, identityFreeSchemaName } = await import('./db/identity-free-views.js');
        try {
          identityFreeSchemaName(config.database.schema);
        } catch (err) {
          process.stderr.write(`provet-sync: ${(err as Error).message}\n`);
          return EXIT.usage;
        }
        return withDatabase(
          config,
          logger,
          async (db) => {
            const grant = await grantIdentityFreeReader(db.pool, db.schema, role);
            const { out, warning } = describeIdentityFreeGrant(role, [{ mirror: db.schema, ...grant }]);
            process.stdout.write(out);
            if (warning) process.stderr.write(warning);
            return EXIT.ok;
          },
          { writesMirror: false },
        );
      }
      return withDatabase(
        config,
        logger,
        async (db) => {
          const { created } = await grantReader(db.pool, db.schema, role);
          process.stdout.write(
            `${created ? 'created role' : 'role'} ${role} (NOLOGIN) may now read the mirror in schema ${db.schema}.\n` +
              `Log in as a member of it, e.g.: CREATE ROLE metabase LOGIN PASSWORD '...' IN ROLE ${role};\n`,
          );
          return EXIT.ok;
        },
        { writesMirror: false },
      );
    }
    case 'worker': {
      const { runWorkerCommand } = await import('./fleet/commands.js');
      return runWorkerCommand(config, logger, stopSignal(logger), failpoints);
    }
    case 'demo': {
      if (flags.fleet)
        return (await import('./demo-fleet.js')).runFleetDemo({ config, logger, env: process.env, serve: flags.serve });
      const { runDemo } = await import('./demo.js');
      return runDemo({
        config,
        logger,
        buildProvetClient,
        out: process.stdout,
        serve: flags.serve ? nextStopSignal : undefined,
      });
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** Resolves with the first SIGINT or SIGTERM; a second one then ends the process at once (the default). */
function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function parseFlags(
  command: string,
  args: string[],
): {
  full: boolean;
  json: boolean;
  serve: boolean;
  fleet: boolean;
  all: boolean;
  group: boolean;
  dryRun: boolean;
  noIdentities: boolean;
  installation: string[];
  positionals: string[];
} {
  const allowed: Record<string, string[]> = {
    sync: ['full'],
    status: ['json', 'all'],
    daemon: [],
    migrate: [],
    demo: ['serve', 'fleet'],
    reconcile: [],
    worker: [],
    'grant-reader': ['installation', 'group', 'no-identities'],
    purge: ['dry-run'],
  };
  try {
    const { values, positionals } = parseArgs({
      args,
      options: {
        full: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        serve: { type: 'boolean', default: false },
        fleet: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        installation: { type: 'string', multiple: true, default: [] },
        group: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'no-identities': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: true,
    });
    for (const flag of [
      'full',
      'json',
      'serve',
      'fleet',
      'all',
      'group',
      'dry-run',
      'no-identities',
      'installation',
    ] as const) {
      const given = flag === 'installation' ? values.installation.length > 0 : values[flag];
      if (given && !(allowed[command] ?? []).includes(flag))
        throw new UsageError(`--${flag} does not apply to '${command}'`);
    }
    // grant-reader takes the role's name; status may take an installation's (fleet mode).
    if (command === 'status') {
      if (positionals.length > 1 || (positionals.length === 1 && values.all))
        throw new UsageError(`'status' takes one installation's name, or --all`);
    } else {
      const wanted = command === 'grant-reader' ? 1 : 0;
      if (positionals.length !== wanted) {
        throw new UsageError(
          wanted ? `'${command}' takes exactly one role name` : `unexpected argument '${positionals[0]}'`,
        );
      }
    }
    return {
      full: values.full === true,
      json: values.json === true,
      serve: values.serve === true,
      fleet: values.fleet === true,
      all: values.all === true,
      group: values.group === true,
      dryRun: values['dry-run'] === true,
      noIdentities: values['no-identities'] === true,
      installation: values.installation,
      positionals,
    };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

/** Resolves once everything written to the stream so far is out (writes to a pipe are asynchronous). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

// The process exits as soon as the command is done, everything closed and stdout and stderr
// flushed (log lines are written synchronously): waiting for the event loop to drain meant waiting
// for each PostgreSQL server process to close its end of a socket the pool had already ended,
// which added 0.15-0.3 s to every run.
async function exitWhenFlushed(): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit();
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    return exitWhenFlushed();
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`provet-sync: ${err.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (err instanceof UsageError) {
      process.stderr.write(`provet-sync: ${err.message}\n\n${USAGE}\n`);
      process.exitCode = EXIT.usage;
    } else {
      const e = err as Error & { code?: string };
      process.stderr.write(`provet-sync: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
      process.exitCode = EXIT.failed;
    }
    return exitWhenFlushed();
  },
);
