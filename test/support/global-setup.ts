// One PostgreSQL server for the whole test run; each test file then makes its own database on it.
// Where it comes from, in order: TEST_DATABASE_URL or DATABASE_URL; a testcontainers PostgreSQL
// where a Docker engine answers; else an embedded PostgreSQL (real binaries from npm) in /tmp.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedServer } from '../../src/db/embedded-server.js';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    databaseSource: string;
  }
}

async function tryTestcontainers(): Promise<{ url: string; stop: () => Promise<void> } | null> {
  try {
    const tc = await import('testcontainers');
    await Promise.race([
      tc.getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no container runtime answered')), 5_000)),
    ]);
    const container = await new tc.GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    return {
      url: `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
      stop: async () => {
        await container.stop();
      },
    };
  } catch {
    return null;
  }
}

async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'provet-sync-test-pg-'));
  // mkdtemp makes the folder private; as root, PostgreSQL runs as 'postgres' and must enter it.
  await chmod(dir, 0o755);
  const server = await startEmbeddedServer({
    dataDir: join(dir, 'data'),
    port: await freePort(),
    // A throwaway cluster: durability buys nothing here, speed does.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '200' },
  });
  return {
    url: server.url,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // `npm run test:unit`: the unit tests need no database, so none is started (the fast loop).
  if (process.env.PROVET_TEST_UNIT_ONLY === '1') return async () => {};
  const configured = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (configured) {
    project.provide('adminDatabaseUrl', configured);
    project.provide('databaseSource', 'configured');
    return async () => {};
  }
  const server = (await tryTestcontainers()) ?? (await startEmbedded());
  project.provide('adminDatabaseUrl', server.url);
  project.provide('databaseSource', server.url.includes('127.0.0.1') ? 'embedded' : 'testcontainers');
  return server.stop;
}
