// The purge as a run (kind 'purge' in sync_runs, under the run lock, its one transaction fenced by
// the lease like every write), or as a dry run: the same statements in a transaction that is
// rolled back, so its counts are exactly what a purge now would do. What it erases: db/purge.ts.
import { withTransaction } from '../db/connect.js';
import { purgeExpired, type PurgeCounts, type RetentionSettings } from '../db/purge.js';
import { tryAcquireRunLock, withLeasedTransaction } from '../db/run-lock.js';
import { countsFor } from './context.js';
import { withLocalRun, type LocalRunDependencies, type RunOutcome } from './run-lifecycle.js';

export type { RetentionSettings };

export type PurgeOutcome = RunOutcome & { counts?: PurgeCounts };

export async function runPurge(deps: LocalRunDependencies, settings: RetentionSettings): Promise<PurgeOutcome> {
  let counts: PurgeCounts | undefined;
  const outcome = await withLocalRun(deps, 'purge', async (ctx) => {
    counts = await withLeasedTransaction(ctx.pool, ctx.runId, (db) => purgeExpired(db, settings));
    for (const [table, count] of Object.entries(counts) as Array<[string, Record<string, number>]>) {
      ctx.findings[table] = count;
      countsFor(ctx, table).written = Object.values(count).reduce((sum, n) => sum + n, 0);
    }
    ctx.logger.info(
      { ...summaryOf(counts), ...settings },
      `purged ${counts.clients.purged} clients and ${counts.patients.purged} patients deleted more than ` +
        `${settings.deletedRetentionDays} days ago, ${counts.sync_rejects.deleted} refused records older than ` +
        `${settings.rejectsRetentionDays} days`,
    );
  });
  return counts ? { ...outcome, counts } : outcome;
}

/**
 * What a purge would do now, without doing it (nothing is written, no run is recorded). It takes
 * the run lock like a purge, so that its statements, rolled back, never hold up a sync's writes;
 * 'locked' when another run holds it.
 */
export async function dryRunPurge(
  deps: Pick<LocalRunDependencies, 'pool' | 'schema'>,
  settings: RetentionSettings,
): Promise<PurgeCounts | 'locked'> {
  const lock = await tryAcquireRunLock(deps.pool, deps.schema);
  if (!lock) return 'locked';
  try {
    return await withTransaction(deps.pool, async (db) => {
      const counts = await purgeExpired(db, settings);
      throw new DryRunRollback(counts);
    }).catch((err: unknown) => {
      if (err instanceof DryRunRollback) return err.counts;
      throw err;
    });
  } finally {
    await lock.release();
  }
}

/** Thrown out of the dry run's transaction so that it rolls back, carrying what it counted. */
class DryRunRollback extends Error {
  constructor(readonly counts: PurgeCounts) {
    super('dry run: rolled back');
  }
}

function summaryOf(counts: PurgeCounts): Record<string, number> {
  return {
    clientsPurged: counts.clients.purged,
    patientsPurged: counts.patients.purged,
    phoneNumbersDeleted: counts.phone_numbers.deleted,
    customFieldValuesDeleted: counts.custom_field_values.deleted,
    rejectsDeleted: counts.sync_rejects.deleted,
  };
}
