// The daemon command: its pieces started in order and stopped in reverse (metrics, webhook queue,
// HTTP server, reconcile schedule, then the poll schedule, which runs until the stop signal).
// Imported by the CLI only when `daemon` runs.
import type { Config } from '../config.js';
import type { Database } from '../db/connect.js';
import type { Logger } from '../log.js';
import type { ProvetClient } from '../provet/client.js';
import { crashPointsFrom } from '../sync/crash-points.js';
import { runReconcile } from '../sync/reconcile.js';
import { refetchRecords } from '../sync/refetch.js';
import { runSync } from '../sync/run.js';
import type { SideRunDependencies } from '../sync/side-run.js';
import { HintQueue } from './hints.js';
import { DaemonMetrics } from './metrics.js';
import { checkReadiness, scheduleIntervalSeconds } from './readiness.js';
import { scheduleReconcile } from './reconcile-schedule.js';
import { runDaemon } from './scheduler.js';
import { startHttpServer } from './server.js';

export async function runDaemonCommand(config: Config, logger: Logger, db: Database, provet: ProvetClient, signal: AbortSignal): Promise<number> {
  const settings = config.daemon;
  const pageSize = config.provet!.pageSize;
  const side: SideRunDependencies = { pool: db.pool, schema: db.schema, provet, logger, pageSize, signal };
  const metrics = new DaemonMetrics({ provet, providerBaseUrl: config.provet!.baseUrl, pool: db.pool, logger });
  const maxRunAgeSeconds = settings.readyMaxRunAgeSeconds ?? 3 * (await scheduleIntervalSeconds(config.sync.schedule));
  const webhook = settings.webhook;
  const hints = webhook
    ? new HintQueue({
        debounceMs: webhook.debounceMs,
        retryMs: 5_000,
        maxQueued: 10_000,
        maxPerRun: 100,
        maxTries: 3,
        logger,
        onSizeChange: (size) => metrics.hintQueue.set(size),
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
    readiness: () => checkReadiness({ pool: db.pool, maxRunAgeSeconds, maxRunningSeconds: settings.readyMaxRunningSeconds }),
    ...(webhook && hints
      ? { webhook: { secret: webhook.secret, maxBodyBytes: webhook.maxBodyBytes, onHint: (h) => hints.add(h), count: (result) => metrics.webhookHints.inc({ result }) } }
      : {}),
  });
  const reconcile = settings.reconcileSchedule
    ? scheduleReconcile({ schedule: settings.reconcileSchedule, logger, signal, runOnce: () => metrics.time('reconcile', () => runReconcile(side)) })
    : null;
  try {
    await runDaemon({
      schedule: config.sync.schedule,
      logger,
      signal,
      runOnce: (runSignal) =>
        metrics.time('poll', () =>
          runSync({ pool: db.pool, schema: db.schema, provet, logger, pageSize, lookbackSeconds: config.sync.lookbackSeconds, signal: runSignal, crashPoint: crashPointsFrom(config.sync.crashAt) }),
        ),
    });
  } finally {
    await reconcile?.stop();
    await server.close();
    await hints?.stop();
    metrics.close();
  }
  return 0; // the CLI's exit code for a daemon stopped as asked
}

