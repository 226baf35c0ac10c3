// `provet-sync worker`: one of any number of processes that mirror the registry's installations
// through the job queue (graphile-worker). Each process ticks the schedule (schedule-tick.ts),
// runs up to WORKER_CONCURRENCY installations at once, and says it is alive every third of
// WORKER_LEASE_SECONDS; a process that stops saying so is taken for dead by the others, which
// give its jobs back to the queue. SIGTERM: no new jobs, the runs in flight stop after the page
// they are landing and go back to the queue, then exit 0. Its HTTP server (/healthz, /readyz,
// /metrics: worker-http.ts, worker-metrics.ts) starts before the runner and closes after it.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { run, runMigrations, type JobHelpers, type Runner, type WorkerEvents } from 'graphile-worker';
import type pg from 'pg';
import { createPool, quoteIdent } from '../db/connect.js';
import { withMigrationLock } from '../db/migrate.js';
import type { Logger } from '../log.js';
import { runInstallationJob, type InstallationRunDeps } from './installation-run.js';
import { queueLogger, queueSchemaOf, TASK_OF, type JobKind, type JobPayload } from './queue.js';
import { tick } from './schedule-tick.js';
import { fleetWebhookRouter } from './webhooks.js';
import { startWorkerHttp, type RunnerState } from './worker-http.js';
import { WorkerMetrics } from './worker-metrics.js';

export interface WorkerHandle {
  /**
   * Resolves when the worker has stopped: after `signal` aborted ('stopped'), or by itself when
   * every queue slot had stopped after an error ('slots lost': exit non-zero, to be restarted).
   * Rejects when the queue's runner failed.
   */
  done: Promise<'stopped' | 'slots lost'>;
}

/** A backfill may take hours; with more than one slot, one is always kept for the small runs. */
function forbiddenFlags(running: { backfills: number }, concurrency: number): () => string[] | null {
  return () => (concurrency > 1 && running.backfills >= concurrency - 1 ? ['backfill'] : null);
}

export async function startWorker(
  deps: Omit<InstallationRunDeps, 'controlPool' | 'observe'> & { http: { host: string; port: number } },
  outerSignal: AbortSignal,
): Promise<WorkerHandle> {
  // The worker also stops itself when the queue has no slot left to run anything with.
  const selfStop = new AbortController();
  const signal = AbortSignal.any([outerSignal, selfStop.signal]);
  const { config, logger, http: httpAt, ...runOptions } = deps;
  const { controlSchema, concurrency, tickMs, leaseMs } = config.fleet;
  const queueSchema = queueSchemaOf(controlSchema);
  const controlPool = createPool(deps.connectionString, controlSchema, logger, concurrency + 4, deps.clientClass);
  const processId = randomUUID();
  const slotIds: string[] = [];
  const running = { jobs: 0, backfills: 0 };
  // Slots the queue stopped after an error (a job it could not release while the database was
  // away): it starts no new one in their place, so this worker runs fewer at once until restarted.
  const lostSlots: string[] = [];
  let slotsToUnlock: string[] = [];
  const metrics = new WorkerMetrics({
    concurrency,
    inUse: () => running.jobs,
    backfills: () => running.backfills,
    lost: () => lostSlots.length,
  });
  const runDeps: InstallationRunDeps = {
    ...runOptions,
    config,
    logger,
    controlPool,
    observe: (installation, run, seconds) => metrics.observe(installation, run, seconds),
  };
  let runnerState: RunnerState = 'starting';
  const http = await startWorkerHttp({
    ...httpAt,
    logger,
    metrics,
    pool: controlPool,
    controlSchema,
    processId,
    leaseMs,
    runner: () => ({ state: runnerState, concurrency, slotsLost: lostSlots.length }),
    webhookRouter: fleetWebhookRouter({
      pool: controlPool,
      controlSchema,
      queueSchema,
      maxBodyBytes: config.fleet.webhookMaxBodyBytes,
      debounceMs: config.fleet.webhookDebounceMs,
      logger,
    }),
  }).catch(async (err: unknown) => {
    await controlPool.end().catch(() => {});
    throw err;
  });

  try {
    await withMigrationLock(controlPool, queueSchema, () =>
      runMigrations({ pgPool: controlPool, schema: queueSchema, logger: queueLogger(logger) }),
    );
  } catch (err) {
    await http.close();
    await controlPool.end().catch(() => {});
    throw err;
  }

  const events: WorkerEvents = new EventEmitter() as WorkerEvents;
  events.on('worker:create', ({ worker }) => slotIds.push(worker.workerId));
  events.on('worker:stop', ({ worker, error }) => {
    if (error === undefined) return;
    // Its job stays locked by it: the heartbeat stops refreshing that lock, and the next beat
    // unlocks it, so the installation's runs go on (here or in another worker).
    const at = slotIds.indexOf(worker.workerId);
    if (at >= 0) slotIds.splice(at, 1);
    lostSlots.push(worker.workerId);
    slotsToUnlock.push(worker.workerId);
    logger.error(
      { err: { message: (error as Error).message }, slotsLost: lostSlots.length },
      `a queue slot stopped after an error; ${concurrency - lostSlots.length} of ${concurrency} left until the worker restarts`,
    );
    if (lostSlots.length >= concurrency && !selfStop.signal.aborted) {
      logger.error('no queue slot left: the worker stops, and exits non-zero so that its supervisor starts it again');
      selfStop.abort();
    }
  });

  const task = (kind: JobKind) => async (payload: unknown, helpers: JobHelpers) => {
    const { installation } = payload as JobPayload;
    const backfill = helpers.job.flags?.backfill === true;
    running.jobs += 1;
    if (backfill) running.backfills += 1;
    try {
      await runInstallationJob(runDeps, kind, installation, anySignal(signal, helpers.abortSignal));
    } finally {
      running.jobs -= 1;
      if (backfill) running.backfills -= 1;
    }
  };

  let runner: Runner;
  try {
    runner = await run({
      pgPool: controlPool,
      schema: queueSchema,
      concurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: queueLogger(logger),
      events,
      forbiddenFlags: forbiddenFlags(running, concurrency),
      taskList: {
        [TASK_OF.sync]: task('sync'),
        [TASK_OF.reconcile]: task('reconcile'),
        [TASK_OF.refetch]: task('refetch'),
      },
    });
  } catch (err) {
    await http.close();
    await controlPool.end().catch(() => {});
    throw err;
  }
  runnerState = 'running';
  runner.promise.then(
    () => (runnerState = 'stopped'),
    (err: unknown) => (runnerState = { failed: (err as Error).message }),
  );

  const beat = async () => {
    if (slotsToUnlock.length > 0) {
      await controlPool.query(`SELECT ${quoteIdent(queueSchema)}.force_unlock_workers($1::text[])`, [slotsToUnlock]);
      slotsToUnlock = [];
    }
    await heartbeat(controlPool, controlSchema, queueSchema, processId, slotIds);
  };
  await beat();
  logger.info(
    { worker: processId, concurrency, queueSchema },
    `worker started: up to ${concurrency} installations at once, registry in schema ${controlSchema}`,
  );

  const loops = [
    every(
      tickMs,
      signal,
      async () => {
        await tick({
          pool: controlPool,
          controlSchema,
          groupSchema: config.fleet.groupSchema,
          queueSchema,
          leaseMs,
          logger,
        });
      },
      logger,
      'schedule tick',
    ),
    every(leaseMs / 3, signal, beat, logger, 'heartbeat'),
  ];

  const done = (async () => {
    await Promise.race([
      new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
      runner.promise,
    ]);
    logger.info('worker stopping: no new runs; runs in flight stop after their current page');
    if (runnerState === 'running') runnerState = 'stopping';
    await runner.stop();
    await Promise.all(loops);
    await http.close();
    await controlPool
      .query(`DELETE FROM ${quoteIdent(controlSchema)}.worker_heartbeats WHERE process_id = $1`, [processId])
      .catch(() => {});
    await controlPool.end().catch(() => {});
    logger.info('worker stopped');
    return selfStop.signal.aborted && !outerSignal.aborted ? ('slots lost' as const) : ('stopped' as const);
  })();
  return { done };
}

/**
 * Says this process is alive, with its slots' ids, and keeps its jobs' locks fresh: the queue
 * itself takes a job locked for four hours for abandoned, and a backfill can run longer.
 * (The lock columns are graphile-worker's own; the version is pinned, and a test runs this.)
 */
async function heartbeat(
  pool: pg.Pool,
  controlSchema: string,
  queueSchema: string,
  processId: string,
  slotIds: readonly string[],
): Promise<void> {
  await pool.query(
    `INSERT INTO ${quoteIdent(controlSchema)}.worker_heartbeats (process_id, host, pid, slot_ids)
     VALUES ($1, $2, $3, $4::text[])
     ON CONFLICT (process_id) DO UPDATE SET heartbeat_at = now(), slot_ids = excluded.slot_ids`,
    [processId, hostname(), process.pid, slotIds],
  );
  const queue = quoteIdent(queueSchema);
  await pool.query(`UPDATE ${queue}._private_jobs SET locked_at = now() WHERE locked_by = ANY($1::text[])`, [slotIds]);
  await pool.query(`UPDATE ${queue}._private_job_queues SET locked_at = now() WHERE locked_by = ANY($1::text[])`, [
    slotIds,
  ]);
}

/** Runs `fn` every `ms` until `signal` aborts; a failure is logged and the loop goes on. */
async function every(
  ms: number,
  signal: AbortSignal,
  fn: () => Promise<void>,
  logger: Logger,
  what: string,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await fn();
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, `${what} failed; trying again`);
    }
    // The listener goes with each wait: one added per pass and never removed would pile up.
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a;
}
