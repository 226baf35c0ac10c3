// Reconciliation on its own cron (RECONCILE_SCHEDULE, daily by default), beside the poll's, and the
// purge after it (the daemon's runOnce runs both; with reconciliation off, the purge alone). In
// the daemon, runOnce waits its turn at the run gate (run-gate.ts) behind this process's own
// runs, ahead of webhook re-fetches, so only another process holding the run lock makes a tick
// find it taken; such a tick tries again a minute later, a bounded number of times, then waits
// for the next tick.
import { schedule } from 'node-cron';
import type { Logger } from '../log.js';

export interface ReconcileScheduleOptions {
  schedule: string;
  /** What the tick runs, as the log says it (default 'reconcile'). */
  label?: string;
  logger: Logger;
  signal: AbortSignal;
  /** One reconcile run; 'locked' when another run holds the lock. */
  runOnce: () => Promise<{ status: string }>;
  retryMs?: number;
  maxRetries?: number;
}

export function scheduleReconcile(options: ReconcileScheduleOptions): { stop(): Promise<void> } {
  const { logger, signal } = options;
  const label = options.label ?? 'reconcile';
  let inFlight: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;

  const attempt = (retriesLeft: number): void => {
    if (signal.aborted || inFlight) return;
    inFlight = options
      .runOnce()
      .then((outcome) => {
        if (outcome.status !== 'locked') return;
        if (retriesLeft <= 0) {
          logger.warn(`${label} skipped: the run lock stayed busy; next try at the next tick`);
          return;
        }
        retryTimer = setTimeout(() => attempt(retriesLeft - 1), options.retryMs ?? 60_000);
      })
      .catch((err: unknown) =>
        logger.error({ err: { message: (err as Error).message } }, `${label} could not run; next try at the next tick`),
      )
      .finally(() => {
        inFlight = null;
      });
  };

  const task = schedule(options.schedule, () => attempt(options.maxRetries ?? 30), {
    name: 'provet-sync-reconcile',
    noOverlap: true,
  });
  logger.info({ schedule: options.schedule }, `${label} scheduled`);
  return {
    async stop() {
      if (retryTimer) clearTimeout(retryTimer);
      await task.stop();
      await task.destroy();
      await inFlight;
    },
  };
}
