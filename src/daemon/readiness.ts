// /readyz in the Kubernetes sense: this daemon is doing its job. The database answers, a
// scheduled poll landed recently enough, and no run has been 'running' for too long.
import type pg from 'pg';
import { createTask } from 'node-cron';
import { pingDatabase, readRunFreshness } from '../db/health.js';

export interface ReadinessOptions {
  pool: pg.Pool;
  /** The last landed poll may be at most this old. */
  maxRunAgeSeconds: number;
  /** The newest run may have been 'running' at most this long. */
  maxRunningSeconds: number;
  databaseTimeoutMs?: number;
}

export interface ReadinessReport {
  ready: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

export async function checkReadiness(options: ReadinessOptions): Promise<ReadinessReport> {
  const checks: ReadinessReport['checks'] = [];
  try {
    await pingDatabase(options.pool, options.databaseTimeoutMs ?? 2_000);
    checks.push({ name: 'database', ok: true, detail: 'reachable' });
  } catch (err) {
    // The message names no host or password: pg's errors carry neither, and ours says only the wait.
    checks.push({ name: 'database', ok: false, detail: `unreachable: ${(err as Error).message}` });
    return { ready: false, checks };
  }
  const freshness = await readRunFreshness(options.pool);
  const age = freshness.lastLandedAgeSeconds;
  checks.push({
    name: 'last_run',
    ok: age !== null && age <= options.maxRunAgeSeconds,
    detail:
      age === null
        ? 'no scheduled run has landed yet'
        : `landed ${Math.round(age)} s ago (limit ${options.maxRunAgeSeconds} s)`,
  });
  const running = freshness.runningForSeconds;
  checks.push({
    name: 'not_stuck',
    ok: running === null || running <= options.maxRunningSeconds,
    detail:
      running === null
        ? 'no run in progress'
        : `a run has been going for ${Math.round(running)} s (limit ${options.maxRunningSeconds} s)`,
  });
  return { ready: checks.every((c) => c.ok), checks };
}

/** The longest gap between the schedule's next few ticks, in seconds (for "3 × the interval"). */
export async function scheduleIntervalSeconds(expression: string): Promise<number> {
  const task = createTask(expression, () => {});
  try {
    const runs = task.getNextRuns(6).map((d) => d.getTime());
    let longest = 60;
    for (let i = 1; i < runs.length; i++) longest = Math.max(longest, (runs[i]! - runs[i - 1]!) / 1000);
    return longest;
  } finally {
    await task.destroy();
  }
}
