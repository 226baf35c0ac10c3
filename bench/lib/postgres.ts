// The benchmark's PostgreSQL: BENCH_DATABASE_URL when set, else a fresh embedded server on a free
// port with its data in a temp folder, removed afterwards. fsync is off on the embedded server;
// that is fair because every bound is measured on the same server as the sync.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedServer } from '../../src/db/embedded-server.js';

export interface BenchDatabase {
  url: string;
  pool: pg.Pool;
  version: string;
  description: string;
  /** Drops a schema and everything in it (each scenario has its own). */
  dropSchema(schema: string): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchDatabase(): Promise<BenchDatabase> {
  let url = process.env.BENCH_DATABASE_URL;
  let stopServer = async (): Promise<void> => {};
  let description = 'BENCH_DATABASE_URL';
  if (!url) {
    // Readable by the 'postgres' user when the benchmark runs as root (the server then runs as it).
    const dir = await mkdtemp(join(tmpdir(), 'provet-bench-'));
    await chmod(dir, 0o755);
    const port = await freePort();
    const server = await startEmbeddedServer({
      dataDir: join(dir, 'pg'),
      port,
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        shared_buffers: '512MB',
        max_wal_size: '8GB',
      },
    });
    url = server.url;
    description = `embedded PostgreSQL (fsync off) in ${dir}`;
    stopServer = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  return {
    url,
    pool,
    version: rows[0]?.server_version ?? 'unknown',
    description,
    dropSchema: async (schema) => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
    stop: async () => {
      await pool.end();
      await stopServer();
    },
  };
}
