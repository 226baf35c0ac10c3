// Closing the zero-configuration database: every pooled connection is closed before the embedded
// server stops, so the last thing a user sees of a command is not a warning about lost connections.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { freePort } from '../support/ports.js';

/**
 * The race is the server's shutdown against the connections' own goodbye: without the wait, a few
 * closes in a hundred logged a lost connection here. Restarting the same data folder takes a
 * fraction of a second, so the test closes it many times.
 */
const ROUNDS = 20;

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the embedded database, closed', () => {
  it('closes every connection before stopping the server, with nothing logged about lost connections', async () => {
    // Readable by the server's own user when the tests run as root.
    const dir = await mkdtemp(join(tmpdir(), 'provet-embedded-close-'));
    dirs.push(dir);
    await chmod(dir, 0o755);
    const port = await freePort();
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    for (let round = 1; round <= ROUNDS; round++) {
      const db = await openDatabase(
        {
          url: undefined,
          schema: 'provet',
          connectDeadlineMs: 20_000,
          embedded: { dataDir: join(dir, 'pg'), dataDirChosen: true, port },
        },
        logger,
      );
      // As many connections as the pool holds, all idle when it is closed.
      await Promise.all(Array.from({ length: 5 }, () => db.pool.query('SELECT pg_sleep(0.05)')));
      expect(db.pool.totalCount).toBe(5);
      await db.close();
      expect(lines.filter((l) => l.includes('connection lost'))).toEqual([]);
      // The server is down: nothing answers on its port.
      const probe = new pg.Client({
        connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
        connectionTimeoutMillis: 2_000,
      });
      await expect(probe.connect()).rejects.toThrow();
    }
  }, 120_000);
});
