// One job of the queue: a sync or a reconciliation of one installation, with the same run
// lifecycle as the single-installation daemon's (sync/run-lifecycle.ts), so every watermark and
// invariant rule holds unchanged. Its credentials are read here, from the file or environment
// variable the registry names, and live only in this run's API client.
import type pg from 'pg';
import type { Config, ProvetAuthConfig } from '../config.js';
import { deriveTokenUrl } from '../config.js';
import { createPool, quoteIdent } from '../db/connect.js';
import { getInstallation, type Installation } from '../db/control/registry.js';
import { migrateSchema } from '../db/migrate.js';
import type { Failpoints } from '../failpoints.js';
import type { Logger } from '../log.js';
import { ProvetClient } from '../provet/client.js';
import { runPurge } from '../sync/purge.js';
import { runReconcile } from '../sync/reconcile.js';
import { refetchRecords } from '../sync/refetch.js';
import { runSync, type RunOutcome } from '../sync/run.js';
import { enqueueRefetch, queueSchemaOf, type JobKind } from './queue.js';
import { CredentialsUnavailableError, readSecretRef } from './secret-refs.js';
import { takeHints } from './webhooks.js';

/** Records re-fetched by one webhook run, as the daemon's batches (GET <kind>/<id>/ each). */
const REFETCH_BATCH = 50;
import type { InstallationRunReport } from './worker-metrics.js';

export interface InstallationRunDeps {
  /** The registry's pool (search_path of no mirror). */
  controlPool: pg.Pool;
  /** For the pools of the installations' mirrors. */
  connectionString: string;
  /** The client class the database's pools must use (the embedded server's SCRAM-only one). */
  clientClass?: typeof pg.Client;
  config: Pick<Config, 'fleet' | 'provetTuning' | 'retention'>;
  logger: Logger;
  failpoints?: Failpoints;
  /**
   * Told of each run that finished, landed or failed (for the metrics): not of a run the schema's
   * lock refused, one the worker's shutdown handed back, or a paused or removed installation's.
   */
  observe?: (installation: string, run: InstallationRunReport, seconds: number) => void;
}

/** The run ended because the worker is stopping: the job goes back to the queue, to run elsewhere. */
class RunHandedBackError extends Error {
  readonly code = 'FLEET_RUN_HANDED_BACK';
}

async function authOf(installation: Installation): Promise<ProvetAuthConfig> {
  if (installation.authMethod === 'token')
    return { kind: 'token', token: await readSecretRef(installation.secretFile, installation.secretEnv, 'API token') };
  const tokenUrl = installation.tokenUrl ?? deriveTokenUrl(installation.baseUrl);
  if (!tokenUrl)
    throw new CredentialsUnavailableError(
      `no token URL: base URL ${installation.baseUrl} does not end in /<provet_id>/api/0.1/; set tokenUrl`,
    );
  return {
    kind: 'oauth',
    clientId: installation.clientId!,
    clientSecret: await readSecretRef(installation.secretFile, installation.secretEnv, 'client secret'),
    tokenUrl,
  };
}

/**
 * Runs one job. Returns quietly when the installation is paused or gone (the tick dequeues the
 * rest); throws RunHandedBackError when `signal` stopped it, so the queue hands it to another worker.
 */
export async function runInstallationJob(
  deps: InstallationRunDeps,
  kind: JobKind,
  name: string,
  signal: AbortSignal,
): Promise<RunOutcome | null> {
  const installation = await getInstallation(deps.controlPool, deps.config.fleet.controlSchema, name);
  const logger = deps.logger.child({ installation: name });
  if (!installation || installation.paused) {
    logger.info(`${kind} of ${name} skipped: the installation is ${installation ? 'paused' : 'no longer registered'}`);
    return null;
  }
  const started = performance.now();
  let observed = false;
  const observe = (run: InstallationRunReport) => {
    observed = true;
    deps.observe?.(name, run, (performance.now() - started) / 1000);
  };
  let auth: ProvetAuthConfig;
  try {
    auth = await authOf(installation);
  } catch (err) {
    logger.error({ err: { message: (err as Error).message } }, `${kind} of ${name} cannot start`);
    observe({ kind, status: 'failed' });
    await recordFinished(deps, name, (err as Error).message);
    return null;
  }
  const pool = createPool(deps.connectionString, installation.mirrorSchema, logger, undefined, deps.clientClass);
  const tuning = deps.config.provetTuning;
  const provet = new ProvetClient({
    baseUrl: installation.baseUrl,
    auth,
    logger: logger.child({ component: 'provet' }),
    requestTimeoutMs: tuning.requestTimeoutMs,
    retryDeadlineMs: tuning.retryDeadlineMs,
    maxBodyBytes: tuning.maxBodyBytes,
    rateWindowMs: tuning.rateWindowMs,
  });
  try {
    await migrateSchema(pool, installation.mirrorSchema, logger);
    const run = {
      pool,
      schema: installation.mirrorSchema,
      provet,
      logger,
      pageSize: tuning.pageSize,
      signal,
      ...(deps.failpoints ? { failpoints: deps.failpoints } : {}),
    };
    let outcome: RunOutcome;
    if (kind === 'refetch') {
      const hints = await takeHints(deps.controlPool, deps.config.fleet.controlSchema, name, REFETCH_BATCH);
      if (hints.clients.length + hints.patients.length === 0) return null;
      outcome = await refetchRecords(run, hints);
      // More waiting than one batch: the next batch right after this one, on any worker.
      if (hints.more) await enqueueRefetch(deps.controlPool, queueSchemaOf(deps.config.fleet.controlSchema), name, 0);
    } else {
      outcome =
        kind === 'sync'
          ? await runSync({ ...run, lookbackSeconds: installation.lookbackSeconds })
          : await runReconcile(run);
    }
    if (outcome.status === 'failed' && outcome.stopped)
      throw new RunHandedBackError(`${kind} of ${name} stopped by the worker's shutdown; queued again`);
    if (outcome.status === 'locked') {
      // Another process holds the schema's run lock (a single-installation daemon on the same
      // schema, or a run the queue did not know of): nothing done, the schedule tries again.
      logger.warn(`${kind} of ${name}: another process holds the run lock of schema ${installation.mirrorSchema}`);
      return outcome;
    }
    observe({
      kind: outcome.kind,
      status: outcome.status,
      streams: outcome.streams,
      requests: outcome.requests,
      throttled: outcome.throttled,
    });
    if (kind === 'sync')
      await recordFinished(deps, name, outcome.status === 'failed' ? (outcome.error?.message ?? 'failed') : null);
    // The purge follows each reconciliation (what finds hard deletes), as in the daemon.
    if (kind === 'reconcile') {
      const purge = await runPurge(run, deps.config.retention);
      // Counted as a run of its own; its streams are rows erased, not rows written from Provet.
      if (purge.status !== 'locked') observe({ kind: purge.kind, status: purge.status });
    }
    return outcome;
  } catch (err) {
    // Thrown before the run's row existed (the database unreachable, the schema's migration
    // failed): a failed run of the job's kind. A run handed back is not finished.
    if (!(err instanceof RunHandedBackError) && !observed) observe({ kind, status: 'failed' });
    throw err;
  } finally {
    await provet.close();
    await pool.end().catch(() => {});
  }
}

/**
 * A sync that landed clears the installation's failures; one that failed counts one more and
 * pushes its next run back (30 s doubling to an hour, or the schedule's next time if later), so a
 * failing installation backs off on its own and the others keep their pace.
 */
async function recordFinished(deps: InstallationRunDeps, name: string, error: string | null): Promise<void> {
  const control = quoteIdent(deps.config.fleet.controlSchema);
  await deps.controlPool.query(
    `UPDATE ${control}.installation_schedule
     SET last_finished_at = now(),
         failures = CASE WHEN $2::text IS NULL THEN 0 ELSE failures + 1 END,
         last_error = $2::text,
         next_run_at = CASE WHEN $2::text IS NULL THEN next_run_at
                            ELSE greatest(next_run_at, now() + least(interval '1 hour', interval '30 seconds' * power(2, failures))) END
     WHERE name = $1`,
    [name, error],
  );
}
