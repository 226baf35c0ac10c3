// Opening the database: the configured server or the embedded one, a pool whose connections
// all use the mirror's schema, and a bounded wait for a database that is not there yet.
import pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { describeDatabaseUrl, type Logger } from '../log.js';
import { ScramOnlyClient } from './scram-client.js';

// Dates and timestamps come back as the text PostgreSQL sends: a JavaScript Date would drop
// Provet's microseconds and shift calendar dates into the local time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (value) => value);
pg.types.setTypeParser(pg.types.builtins.TIMESTAMP, (value) => value);

export type Queryable = pg.Pool | pg.PoolClient;

class DatabaseUnavailableError extends Error {
  readonly code = 'DATABASE_UNAVAILABLE';
}

export interface Database {
  pool: pg.Pool;
  schema: string;
  /** How to reach it (may hold a password: for more pools, never for messages). */
  connectionString: string;
  /** Where the data is, without the password: for messages. */
  description: string;
  /** Embedded only: its connection string without the password, for messages and logs. */
  publicUrl: string | undefined;
  /** Embedded only: the folder holding the data. */
  embeddedDataDir: string | undefined;
  /** Embedded only: the file holding its password, for libpq (`PGPASSFILE=<it> psql <publicUrl>`). */
  embeddedPasswordFile: string | undefined;
  /** The client class every further pool of it must use (embedded: the one that answers SCRAM only). */
  clientClass: typeof pg.Client | undefined;
  close(): Promise<void>;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  let url = config.url;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let publicUrl: string | undefined;
  let embeddedDataDir: string | undefined;
  let embeddedPasswordFile: string | undefined;
  if (!url) {
    // Loaded only when needed: the embedded server's package is not used with DATABASE_URL.
    const { startEmbeddedDatabase } = await import('./embedded.js');
    const embedded = await startEmbeddedDatabase({ ...config.embedded, logger });
    url = embedded.url;
    publicUrl = embedded.publicUrl;
    embeddedDataDir = embedded.dataDir;
    embeddedPasswordFile = embedded.passwordFile;
    stopEmbedded = () => embedded.stop();
  }
  const description = describeDatabaseUrl(url);
  // The embedded server's password goes to no server but the one that proves it holds it.
  const clientClass = publicUrl === undefined ? undefined : ScramOnlyClient;
  const pool = createPool(url, config.schema, logger, 5, clientClass);
  try {
    await waitForDatabase(pool, description, config.connectDeadlineMs, logger);
  } catch (err) {
    await pool.end().catch(() => {});
    await stopEmbedded?.();
    throw err;
  }
  return {
    pool,
    schema: config.schema,
    connectionString: url,
    clientClass,
    description,
    publicUrl,
    embeddedDataDir,
    embeddedPasswordFile,
    close: async () => {
      await pool.end().catch(() => {});
      // Only before stopping our own server: a server of the user's closes its end on its own,
      // and waiting for that would add a tenth of a second or more to every command's exit.
      if (stopEmbedded) {
        await closedWithin(openConnections(pool), pool, CLOSE_WAIT_MS);
        await stopEmbedded();
      }
    },
  };
}

const CLOSE_WAIT_MS = 5_000;

const OPEN_CONNECTIONS = new WeakMap<pg.Pool, Set<pg.PoolClient>>();

/** Connections of `pool` not yet closed (see closedWithin). */
function openConnections(pool: pg.Pool): Set<pg.PoolClient> {
  return OPEN_CONNECTIONS.get(pool) ?? new Set();
}

/**
 * A pool whose connections see `schema`'s tables unqualified. openDatabase's, and in fleet mode
 * one per installation's mirror. `client`: the connections' class, when not node-postgres's own
 * (the embedded server's, which gives its password to SCRAM only).
 */
export function createPool(url: string, schema: string, logger: Logger, max = 5, client?: typeof pg.Client): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    ...(client ? { Client: client } : {}),
    // Unqualified table names resolve to the mirror's schema on every connection. A transaction
    // left open by a stalled process (paused, swapped out) is ended by the server after a minute,
    // so its locks cannot hold up the run that takes over; page transactions never idle that long.
    options: `-c search_path=${quoteIdent(schema)} -c idle_in_transaction_session_timeout=60000`,
    // The run lock's session, two pages landing at once (sync/stream.ts), and room for the
    // daemon's readiness checks and status queries.
    max,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'provet-sync',
  });
  // A connection the server drops must not crash the process: idle ones report through the pool,
  // checked-out ones (a page transaction, the run lock) through their own listener, while the
  // query in flight, if any, fails and the run handles that failure.
  pool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'database connection lost while idle'));
  // Connections not yet closed: pool.end() resolves as soon as it has asked each to close, and an
  // embedded server stopped right after would cut the ones still closing (with a warning each).
  const open = new Set<pg.PoolClient>();
  OPEN_CONNECTIONS.set(pool, open);
  pool.on('connect', (client) => {
    open.add(client);
    client.on('error', (err) => logger.warn({ err: { message: err.message } }, 'database connection lost'));
  });
  pool.on('remove', (client) => open.delete(client));
  return pool;
}

/** Resolves once every connection in `open` has closed, or after `ms`. */
function closedWithin(open: Set<pg.PoolClient>, pool: pg.Pool, ms: number): Promise<void> {
  if (open.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      pool.off('remove', onRemove);
      resolve();
    }
    function onRemove(): void {
      if (open.size === 0) done();
    }
    pool.on('remove', onRemove);
  });
}

/** Retries with backoff until the deadline, then fails naming the database (never the password). */
async function waitForDatabase(pool: pg.Pool, description: string, deadlineMs: number, logger: Logger): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch (err) {
      const message = (err as Error).message;
      const waitMs = Math.min(500 * 2 ** (attempt - 1), 10_000);
      if (Date.now() + waitMs > giveUpAt) {
        throw new DatabaseUnavailableError(
          `database ${description} is unreachable after ${attempt} attempts over ${Math.round(deadlineMs / 1000)}s: ${message}`,
          { cause: err },
        );
      }
      logger.warn({ database: description, attempt, retryInMs: waitMs, reason: message }, 'database not reachable yet');
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

/**
 * Runs fn in a transaction on one pooled connection; always releases it. `opening`: statements
 * without parameters sent along with BEGIN, in the same round trip; fn gets their results.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, opened: pg.QueryResult[]) => Promise<T>,
  opening?: string,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    let opened: pg.QueryResult[] = [];
    if (opening) {
      // Several statements in one simple query answer with one result each, BEGIN's first.
      opened = ((await client.query(`BEGIN; ${opening}`)) as unknown as pg.QueryResult[]).slice(1);
    } else {
      await client.query('BEGIN');
    }
    const result = await fn(client, opened);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    // A connection whose rollback failed is in an unknown state: drop it instead of reusing it.
    client.release(broken);
  }
}
