// The daemon command: its pieces started in order and stopped in reverse (metrics, webhook queue,
// HTTP server, reconcile schedule, then the poll schedule, which runs until the stop signal).
// Every run of this process goes through one RunGate (run-gate.ts): the poll and reconcile wait
// their turn and go before webhook re-fetches, which also keep to a per-minute cap.
// Imported by the CLI only when `daemon` runs.
import type { Config } from '../config.js';
import type { Database } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { ProvetClient } from '../provet/client.js';
import { runPurge } from '../sync/purge.js';
import { runReconcile } from '../sync/reconcile.js';
import { refetchRecords } from '../sync/refetch.js';
import { runSync } from '../sync/run.js';
import type { RunDependencies } from '../sync/run-lifecycle.js';
import type { Failpoints } from '../failpoints.js';
import { HintQueue, RefetchCap } from './hints.js';
import { DaemonMetrics } from './metrics.js';
import { checkReadiness, scheduleIntervalSeconds } from './readiness.js';
import { scheduleReconcile } from './reconcile-schedule.js';
import { RunGate } from './run-gate.js';
import { runDaemon } from './scheduler.js';
import { singleSecretRouter, startHttpServer } from './server.js';

/** When the daemon purges if RECONCILE_SCHEDULE is off: the reconciliation's default time. */
const PURGE_SCHEDULE_WITHOUT_RECONCILE = '17 3 * * *';

export async function runDaemonCommand(
  config: Config,
  logger: Logger,
  db: Database,
  provet: ProvetClient,
  signal: AbortSignal,
  failpoints?: Failpoints,
): Promise<number> {
  const settings = config.daemon;
  const pageSize = config.provet!.pageSize;
  const side: RunDependencies = {
    pool: db.pool,
    schema: db.schema,
    provet,
    logger,
    pageSize,
    signal,
    ...(failpoints ? { failpoints } : {}),
  };
  const metrics = new DaemonMetrics({ provet, providerBaseUrl: config.provet!.baseUrl, pool: db.pool, logger });
  const maxRunAgeSeconds = settings.readyMaxRunAgeSeconds ?? 3 * (await scheduleIntervalSeconds(config.sync.schedule));
  const webhook = settings.webhook;
  const gate = new RunGate(logger);
  if (webhook) metrics.showRefetchCap(webhook.maxRefetchesPerMinute);
  const hints = webhook
    ? new HintQueue({
        debounceMs: webhook.debounceMs,
        // Only another process's run lock makes a batch 'locked' now; this daemon's own runs are ordered by the gate.
        retryMs: 5_000,
        maxQueued: 10_000,
        // A due poll waits for at most one batch: 50 single-record requests, a few seconds against Provet.
        maxPerRun: 50,
        maxTries: 3,
        logger,
        cap: new RefetchCap(webhook.maxRefetchesPerMinute),
        gate,
        onSizeChange: (size) => metrics.hintQueue.set(size),
        onDeferred: (records) => metrics.webhookDeferred.inc(records),
        onRefetched: (records) => metrics.webhookRefetches.inc(records),
        refetch: async (ids) => {
          const outcome = await metrics.time('webhook', () => refetchRecords(side, ids));
          return outcome.status === 'locked' ? 'locked' : outcome.status === 'failed' ? 'failed' : 'done';
        },
      })
    : null;
  const server = await startHttpServer({
    host: settings.httpHost,
    port: settings.httpPort,
    logger,
    metrics: metrics.registry,
    readiness: () =>
      checkReadiness({ pool: db.pool, maxRunAgeSeconds, maxRunningSeconds: settings.readyMaxRunningSeconds }),
    ...(webhook && hints
      ? {
          webhook: singleSecretRouter({
            secret: webhook.secret,
            maxBodyBytes: webhook.maxBodyBytes,
            onHint: (h) => hints.add(h),
            count: (result) => metrics.webhookHints.inc({ result }),
          }),
        }
      : {}),
  });
  // The purge follows each reconciliation, which is what finds hard deletes; with reconciliation
  // off it still runs daily, so that records deleted through webhooks are not kept forever.
  const reconcile = scheduleReconcile({
    schedule: settings.reconcileSchedule ?? PURGE_SCHEDULE_WITHOUT_RECONCILE,
    label: settings.reconcileSchedule ? 'reconcile and purge' : 'purge (reconciliation is off)',
    logger,
    signal,
    runOnce: async () => {
      const outcome = settings.reconcileSchedule
        ? await gate.scheduled('reconcile', () => metrics.time('reconcile', () => runReconcile(side)), signal)
        : { status: 'skipped' };
      if (outcome.status === 'locked' || outcome.status === 'stopped') return outcome;
      // A failed purge is logged by its run and tried again at the next tick.
      return gate.scheduled('purge', () => metrics.time('purge', () => runPurge(side, config.retention)), signal);
    },
  });
  try {
    await runDaemon({
      schedule: config.sync.schedule,
      logger,
      signal,
      runOnce: (runSignal) =>
        gate.scheduled(
          'poll',
          () =>
            metrics.time('poll', () =>
              runSync({
                pool: db.pool,
                schema: db.schema,
                provet,
                logger,
                pageSize,
                lookbackSeconds: config.sync.lookbackSeconds,
                signal: runSignal,
                ...(failpoints ? { failpoints } : {}),
              }),
            ),
          runSignal,
        ),
    });
  } finally {
    await reconcile.stop();
    await server.close();
    await hints?.stop();
    metrics.close();
  }
  return 0; // the CLI's exit code for a daemon stopped as asked
}
