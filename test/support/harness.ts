// An integration test's world: the simulator on a loopback port, a database of the file's own,
// the mirror's schema migrated, and a Provet client pointed at the simulator over real HTTP.
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateSchema } from '../../src/db/migrate.js';
import { createLogger, type Logger } from '../../src/log.js';
import { ProvetClient, type ProvetClientOptions } from '../../src/provet/client.js';
import { runSync, type RunOutcome } from '../../src/sync/run.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface Harness {
  sim: Simulator;
  db: Database;
  provet: ProvetClient;
  logger: Logger;
  testDatabase: TestDatabase;
  sync(options?: {
    full?: boolean;
    signal?: AbortSignal;
    lookbackSeconds?: number;
    pageSize?: number;
  }): Promise<RunOutcome>;
  /** A second, independent client (as another process would have). */
  newProvetClient(overrides?: Partial<ProvetClientOptions>): ProvetClient;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    simulator?: SimulatorOptions;
    schema?: string;
    client?: Partial<ProvetClientOptions>;
    pageSize?: number;
    lookbackSeconds?: number;
  } = {},
): Promise<Harness> {
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const sim = await startSimulator({ clients: 50, seed: 1, ...options.simulator });
  const testDatabase = await createTestDatabase();
  const schema = options.schema ?? 'provet';
  const db = await openDatabase(
    {
      url: testDatabase.url,
      schema,
      connectDeadlineMs: 10_000,
      embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 },
    },
    logger,
  );
  await migrateSchema(db.pool, schema, logger);
  const newProvetClient = (overrides: Partial<ProvetClientOptions> = {}) =>
    new ProvetClient({
      baseUrl: sim.baseUrl,
      auth: { kind: 'oauth', clientId: sim.clientId, clientSecret: sim.clientSecret, tokenUrl: sim.tokenUrl },
      logger,
      requestTimeoutMs: 5_000,
      retryDeadlineMs: 20_000,
      backoffBaseMs: 20,
      backoffCapMs: 200,
      ...options.client,
      ...overrides,
    });
  const provet = newProvetClient();
  return {
    sim,
    db,
    provet,
    logger,
    testDatabase,
    newProvetClient,
    sync: (opts = {}) =>
      runSync(
        {
          pool: db.pool,
          schema,
          provet,
          logger,
          pageSize: opts.pageSize ?? options.pageSize ?? 100,
          lookbackSeconds: opts.lookbackSeconds ?? options.lookbackSeconds ?? 120,
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        { full: opts.full === true },
      ),
    close: async () => {
      await provet.close();
      await db.close();
      await testDatabase.drop();
      await sim.close();
    },
  };
}

/**
 * Runs `run` again while the lock refuses it, for up to 5 s: a killed process's connection, and
 * the run lock it held, linger until the server notices the process is gone (longer on a busy machine).
 */
export async function whenUnlocked<T extends { status: string }>(run: () => Promise<T>): Promise<T> {
  let outcome = await run();
  for (let i = 0; i < 50 && outcome.status === 'locked'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    outcome = await run();
  }
  return outcome;
}

export function expectLanded(outcome: RunOutcome): asserts outcome is Extract<RunOutcome, { runId: number }> {
  if (outcome.status === 'locked') throw new Error('run was refused by the lock');
  if (outcome.status === 'failed') throw new Error(`run failed: ${outcome.error?.stack ?? outcome.error?.message}`);
}
