// What every worker does every WORKER_TICK_SECONDS: queue the runs that are due, drop the state
// of installations that are gone, and give the jobs of dead workers back to the queue. Any number
// of workers may tick at once: due installations are taken with FOR UPDATE SKIP LOCKED, so each is
// queued once, and the queue's job keys would collapse a second one anyway. No leader is needed.
import { createTask } from 'node-cron';
import type pg from 'pg';
import { quoteIdent, withTransaction } from '../db/connect.js';
import { refreshGroupViews } from '../db/control/group-views.js';
import type { Logger } from '../log.js';
import { dequeueRuns, enqueueRun } from './queue.js';

/** The next time `cron` fires after now (node-cron's reading of it, as the daemon's). */
async function nextOccurrence(cron: string): Promise<Date> {
  const task = createTask(cron, () => {});
  try {
    const next = task.getNextRuns(1)[0];
    if (!next) throw new Error(`cron expression ${cron} never fires`);
    return next;
  } finally {
    await task.destroy();
  }
}

export interface TickContext {
  pool: pg.Pool;
  controlSchema: string;
  /** PROVET_GROUP_SCHEMA: the views across installations, rebuilt here when they must be. */
  groupSchema: string;
  queueSchema: string;
  leaseMs: number;
  logger: Logger;
}

export interface TickReport {
  queued: string[];
  reclaimedWorkers: number;
}

interface DueRow {
  name: string;
  schedule: string;
  reconcile_schedule: string | null;
  paused: boolean;
  run_due: boolean;
  reconcile_due: boolean;
  never_finished: boolean;
}

export async function tick(ctx: TickContext): Promise<TickReport> {
  const control = quoteIdent(ctx.controlSchema);
  const queued: string[] = [];
  await withTransaction(ctx.pool, async (db) => {
    // A new installation's first sync is due at once; its reconciliation on its schedule.
    await db.query(
      `INSERT INTO ${control}.installation_schedule (name, next_run_at)
       SELECT name, now() FROM ${control}.installations ON CONFLICT (name) DO NOTHING`,
    );
    const gone = await db.query<{ name: string }>(
      `DELETE FROM ${control}.installation_schedule s
       WHERE NOT EXISTS (SELECT 1 FROM ${control}.installations i WHERE i.name = s.name) RETURNING s.name`,
    );
    for (const { name } of gone.rows) await dequeueRuns(db, ctx.queueSchema, name);
    const due = await db.query<DueRow>(
      `SELECT i.name, i.schedule, i.reconcile_schedule, i.paused,
              s.next_run_at <= now() AS run_due,
              i.reconcile_schedule IS NOT NULL AND s.next_reconcile_at <= now() AS reconcile_due,
              s.last_finished_at IS NULL AS never_finished
       FROM ${control}.installations i JOIN ${control}.installation_schedule s USING (name)
       WHERE s.next_run_at <= now()
          OR (i.reconcile_schedule IS NOT NULL AND (s.next_reconcile_at IS NULL OR s.next_reconcile_at <= now()))
          OR (i.reconcile_schedule IS NULL AND s.next_reconcile_at IS NOT NULL)
       FOR UPDATE OF s SKIP LOCKED`,
    );
    for (const row of due.rows) {
      if (row.paused) {
        // Nothing runs while paused; the schedule resumes from the next occurrence after resume.
        await dequeueRuns(db, ctx.queueSchema, row.name);
      } else {
        if (row.run_due) {
          await enqueueRun(db, ctx.queueSchema, 'sync', row.name, row.never_finished);
          queued.push(`sync:${row.name}`);
        }
        if (row.reconcile_due) {
          await enqueueRun(db, ctx.queueSchema, 'reconcile', row.name, false);
          queued.push(`reconcile:${row.name}`);
        }
      }
      const nextRun = row.run_due ? await nextOccurrence(row.schedule) : null;
      const nextReconcile = row.reconcile_schedule === null ? null : await nextOccurrence(row.reconcile_schedule);
      await db.query(
        `UPDATE ${control}.installation_schedule
         SET next_run_at = COALESCE($2, next_run_at),
             next_reconcile_at = CASE WHEN $4 THEN NULL
                                      WHEN next_reconcile_at IS NULL OR next_reconcile_at <= now() THEN $3
                                      ELSE next_reconcile_at END
         WHERE name = $1`,
        [
          row.name,
          nextRun?.toISOString() ?? null,
          nextReconcile?.toISOString() ?? null,
          row.reconcile_schedule === null,
        ],
      );
    }
  });
  const reclaimedWorkers = await reclaimDeadWorkers(ctx);
  // A first run made an installation's tables, or one was removed: the fleet-wide views follow.
  const covered = await withTransaction(ctx.pool, (db) => refreshGroupViews(db, ctx.controlSchema, ctx.groupSchema));
  if (covered) ctx.logger.info({ installations: covered }, `views across installations rebuilt in ${ctx.groupSchema}`);
  if (queued.length > 0) ctx.logger.debug({ queued }, 'runs queued');
  return { queued, reclaimedWorkers };
}

/**
 * Workers not heard from for the lease are taken for dead: their slots' jobs are unlocked (the
 * queue itself would wait four hours), so another worker runs them again. The run that was cut
 * off was recorded as running in its schema; the next run there marks it interrupted.
 */
async function reclaimDeadWorkers(ctx: TickContext): Promise<number> {
  const control = quoteIdent(ctx.controlSchema);
  return withTransaction(ctx.pool, async (db) => {
    const dead = await db.query<{ process_id: string; host: string; pid: number; slot_ids: string[] }>(
      `DELETE FROM ${control}.worker_heartbeats
       WHERE process_id IN (SELECT process_id FROM ${control}.worker_heartbeats
                            WHERE heartbeat_at < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED)
       RETURNING process_id, host, pid, slot_ids`,
      [ctx.leaseMs / 1000],
    );
    for (const worker of dead.rows) {
      await db.query(`SELECT ${quoteIdent(ctx.queueSchema)}.force_unlock_workers($1::text[])`, [worker.slot_ids]);
      ctx.logger.warn(
        { worker: worker.process_id, host: worker.host, pid: worker.pid },
        `worker ${worker.host}:${worker.pid} silent for over ${ctx.leaseMs / 1000} s: its runs go back to the queue`,
      );
    }
    return dead.rows.length;
  });
}
