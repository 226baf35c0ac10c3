// The daemon's clock: a run at start, then one per cron tick, never two at once in this
// process (the database lock keeps other processes out). Stops on an AbortSignal: no new run
// starts, and the current one is asked to stop after the page it is landing.
// In the daemon, runOnce waits its turn at the run gate (run-gate.ts): a tick that comes while a
// webhook re-fetch or reconcile runs here waits for it to end instead of finding the lock taken
// and being skipped; meanwhile later ticks are skipped as "still going".
import { schedule } from 'node-cron';
import type { Logger } from '../log.js';
import type { RunOutcome } from '../sync/run.js';

export interface DaemonOptions {
  schedule: string;
  logger: Logger;
  signal: AbortSignal;
  /** One sync run; it should stop early when `signal` aborts ('stopped': it never started). */
  runOnce: (signal: AbortSignal) => Promise<RunOutcome | { status: 'stopped' }>;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { logger, signal } = options;
  // Held in an object so the type checker does not narrow it across the callbacks that set it.
  const inFlight: { run: Promise<void> | null } = { run: null };

  const tick = (reason: string): void => {
    if (signal.aborted) return;
    if (inFlight.run) {
      logger.info({ reason }, 'previous run still going; skipping this tick');
      return;
    }
    inFlight.run = options
      .runOnce(signal)
      .then((outcome) => {
        if (outcome.status === 'locked') logger.info('another process holds the run lock; skipped this tick');
      })
      .catch((err: unknown) => {
        // A run that cannot even start (database down) is retried on the next tick.
        logger.error({ err: { message: (err as Error).message } }, 'sync run could not run; retrying on the next tick');
      })
      .finally(() => {
        inFlight.run = null;
      });
  };

  const task = schedule(options.schedule, () => tick('schedule'), { name: 'provet-sync', noOverlap: true });
  logger.info({ schedule: options.schedule }, 'daemon started');
  tick('startup');

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await task.stop();
  await task.destroy();
  logger.info('stopping: waiting for the current run to land its page');
  await inFlight.run;
  logger.info('daemon stopped');
}
