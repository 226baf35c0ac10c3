// A worker's HTTP server: the daemon's (/healthz, /readyz, /metrics; no webhooks) with the
// worker's own readiness. Ready: the database answers, the queue's runner is running, and this
// worker's heartbeat row was written within the lease (what the other workers go by).
import type pg from 'pg';
import { quoteIdent } from '../db/connect.js';
import { pingDatabase } from '../db/health.js';
import type { Logger } from '../log.js';
import type { ReadinessReport } from '../daemon/readiness.js';
import { startHttpServer, type HttpServer, type WebhookRouter } from '../daemon/server.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** The queue's runner, as the worker sees it. */
export type RunnerState = 'starting' | 'running' | 'stopping' | 'stopped' | { failed: string };

interface WorkerReadinessOptions {
  pool: pg.Pool;
  controlSchema: string;
  processId: string;
  leaseMs: number;
  /** The runner's state, and how many of its slots stopped after an error (the queue starts no new ones). */
  runner: () => { state: RunnerState; concurrency: number; slotsLost: number };
  databaseTimeoutMs?: number;
}

async function checkWorkerReadiness(options: WorkerReadinessOptions): Promise<ReadinessReport> {
  const checks: ReadinessReport['checks'] = [];
  let reachable = true;
  try {
    await pingDatabase(options.pool, options.databaseTimeoutMs ?? 2_000);
    checks.push({ name: 'database', ok: true, detail: 'reachable' });
  } catch (err) {
    reachable = false;
    // pg's errors name no host or password; ours says only the wait.
    checks.push({ name: 'database', ok: false, detail: `unreachable: ${(err as Error).message}` });
  }
  const { state, concurrency, slotsLost } = options.runner();
  checks.push({
    name: 'queue_runner',
    ok: state === 'running' && slotsLost === 0,
    detail:
      typeof state !== 'string'
        ? `failed: ${state.failed}`
        : state === 'running' && slotsLost > 0
          ? `running, but ${slotsLost} of ${concurrency} slots stopped after an error: restart the worker`
          : state,
  });
  const lease = options.leaseMs / 1000;
  if (!reachable) {
    checks.push({ name: 'heartbeat', ok: false, detail: 'not read: the database is unreachable' });
  } else {
    const { rows } = await options.pool.query<{ age: number }>(
      `SELECT extract(epoch FROM now() - heartbeat_at)::float8 AS age
       FROM ${quoteIdent(options.controlSchema)}.worker_heartbeats WHERE process_id = $1`,
      [options.processId],
    );
    const age = rows[0]?.age;
    checks.push({
      name: 'heartbeat',
      ok: age !== undefined && age <= lease,
      detail:
        age === undefined
          ? 'no heartbeat of this worker in the registry'
          : `written ${Math.round(age)} s ago (limit ${lease} s)`,
    });
  }
  return { ready: checks.every((c) => c.ok), checks };
}

export function startWorkerHttp(
  options: WorkerReadinessOptions & {
    host: string;
    port: number;
    logger: Logger;
    metrics: WorkerMetrics;
    webhookRouter: WebhookRouter;
  },
): Promise<HttpServer> {
  return startHttpServer({
    host: options.host,
    port: options.port,
    logger: options.logger,
    metrics: options.metrics.registry,
    readiness: () => checkWorkerReadiness(options),
    webhook: options.webhookRouter,
  });
}
