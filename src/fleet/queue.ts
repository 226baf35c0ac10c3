// The job queue the fleet's workers share: graphile-worker, in a schema of its own beside the
// registry's (<PROVET_CONTROL_SCHEMA>_queue). Jobs are added with its SQL function add_job inside
// the scheduler's transaction, so an installation's next due time moves only if its job is queued.
//
// One queue name per installation (`installation:<name>`): graphile-worker runs the jobs of a queue
// one at a time, across every worker, and skips a busy queue without holding up the others; that
// is the "one run per installation at a time" rule, with the schema's run lock behind it. One job
// key per installation and kind, added with job_key_mode 'unsafe_dedupe': a tick that finds a
// run already queued or running adds nothing.
import { Logger as QueueLogger, type LogLevel } from 'graphile-worker';
import type pg from 'pg';
import { quoteIdent } from '../db/connect.js';
import type { Logger } from '../log.js';

export type JobKind = 'sync' | 'reconcile' | 'refetch';
export const TASK_OF: Record<JobKind, string> = {
  sync: 'sync_installation',
  reconcile: 'reconcile_installation',
  refetch: 'refetch_installation',
};

export interface JobPayload {
  installation: string;
}

export function queueSchemaOf(controlSchema: string): string {
  return `${controlSchema}_queue`;
}

function queueNameOf(installation: string): string {
  return `installation:${installation}`;
}

function jobKeyOf(kind: JobKind, installation: string): string {
  return `${kind}:${installation}`;
}

/**
 * Queues a run of `installation` unless one of that kind is queued or running already.
 * `backfill`: its first sync, which may take hours; flagged so that backfills cannot take every
 * slot of a worker (see worker.ts), and behind the small runs in priority.
 */
export async function enqueueRun(
  db: pg.PoolClient,
  queueSchema: string,
  kind: JobKind,
  installation: string,
  backfill: boolean,
): Promise<void> {
  const payload: JobPayload = { installation };
  await db.query(
    `SELECT ${quoteIdent(queueSchema)}.add_job($1, $2::json, queue_name => $3, job_key => $4, job_key_mode => 'unsafe_dedupe', priority => $5, flags => $6::text[], max_attempts => 1000)`,
    [
      TASK_OF[kind],
      JSON.stringify(payload),
      queueNameOf(installation),
      jobKeyOf(kind, installation),
      backfill ? 10 : 0,
      backfill ? ['backfill'] : null,
    ],
  );
}

/**
 * Queues a re-fetch of the installation's waiting webhook hints in `delayMs` (the debounce), unless
 * one is queued: that one keeps its time and takes the new hints too. If one is running, a
 * follow-up is queued (job_key_mode preserve_run_at), so hints that came in meanwhile are not left.
 */
export async function enqueueRefetch(db: pg.Pool, queueSchema: string, installation: string, delayMs: number) {
  const payload: JobPayload = { installation };
  await db.query(
    `SELECT ${quoteIdent(queueSchema)}.add_job($1, $2::json, queue_name => $3, job_key => $4, job_key_mode => 'preserve_run_at', run_at => now() + make_interval(secs => $5), max_attempts => 1000)`,
    [
      TASK_OF.refetch,
      JSON.stringify(payload),
      queueNameOf(installation),
      jobKeyOf('refetch', installation),
      delayMs / 1000,
    ],
  );
}

/** Removes the queued (not running) jobs of an installation that is paused or gone. */
export async function dequeueRuns(db: pg.PoolClient, queueSchema: string, installation: string): Promise<void> {
  for (const kind of ['sync', 'reconcile', 'refetch'] as const)
    await db.query(`SELECT ${quoteIdent(queueSchema)}.remove_job($1)`, [jobKeyOf(kind, installation)]);
}

/** graphile-worker's log lines through our logger, at one level lower (its info is our debug). */
export function queueLogger(logger: Logger): QueueLogger {
  const log = logger.child({ component: 'queue' });
  return new QueueLogger(() => (level: LogLevel, message: string, meta?: Record<string, unknown>) => {
    const fields = meta ?? {};
    // LogLevel is a const enum of strings, which this project's compiler settings cannot read.
    const name: string = level;
    if (name === 'error') log.error(fields, message);
    else if (name === 'warning') log.warn(fields, message);
    else log.debug(fields, message);
  });
}
