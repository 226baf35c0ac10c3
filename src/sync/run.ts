// One sync run: read the custom field definitions, then the codelists, the clients (step 1, with
// their phone numbers and custom values) and the patients (step 2) side by side, then the
// archive cascade's re-reads (step 3), and move each stream's watermark only once all of that
// stream has landed. The lock, the run row and the outcome are the run lifecycle's
// (run-lifecycle.ts), as for every kind of run.
//
// The watermark rules, in one place:
// - The next run's watermark is Provet's clock at this run's first response (its Date header),
//   never the local clock, so a skewed machine clock cannot make a run skip changes.
// - A run asks for modified >= watermark - lookback; re-reading the lookback window is free in
//   the mirror (unchanged rows are not rewritten).
// - A stream's watermark is written only after every page of that stream has committed. A run
//   that fails part-way keeps what landed and leaves the watermark where it was.
import type pg from 'pg';
import { withLeasedTransaction } from '../db/run-lock.js';
import { advanceWatermark, readWatermarks, type StreamName } from '../db/watermarks.js';
import type { Logger } from '../log.js';
import { syncClients } from './clients.js';
import { syncCodelists } from './codelists.js';
import { Slots, type RunContext } from './context.js';
import { syncCustomFieldDefinitions } from './custom-fields.js';
import { rereadPatientsOfFlippedClients } from './patient-rereads.js';
import { syncPatients } from './patients.js';
import { withRun, type RunDependencies, type RunOutcome } from './run-lifecycle.js';

export type { RunOutcome } from './run-lifecycle.js';

export interface SyncDependencies extends RunDependencies {
  lookbackSeconds: number;
}

/** One sync run (full when asked, or when no stream has a watermark yet; else incremental). */
export function runSync(deps: SyncDependencies, options: { full?: boolean } = {}): Promise<RunOutcome> {
  return withRun(
    deps,
    async (pool) => {
      const watermarks = await readWatermarks(pool);
      // A stream without a watermark is read whole (see sinceFor); the run is 'full' when all are.
      const full = options.full === true || (!watermarks.has('clients') && !watermarks.has('patients'));
      return { kind: full ? 'full' : 'incremental', plan: watermarks };
    },
    (ctx, watermarks) => syncSteps(ctx, deps, watermarks),
  );
}

async function syncSteps(ctx: RunContext, deps: SyncDependencies, watermarks: Map<string, string>): Promise<void> {
  const kind = ctx.kind === 'full' ? 'full' : 'incremental';
  const logger = ctx.logger;
  // The first request tells Provet's time, from which every since and watermark of the run follow.
  await syncCustomFieldDefinitions(ctx);
  const startedAt = providerStartTime(ctx, logger);
  const stepBackMs = await clockStepBack(deps.pool, ctx.runId, startedAt, logger);
  const since = (stream: StreamName) =>
    sinceFor(stream, watermarks, startedAt, deps.lookbackSeconds + stepBackMs / 1000, kind, logger);
  const clientsSince = since('clients');
  const patientsSince = since('patients');
  ctx.pageSlots = new Slots(PAGES_HELD_AT_ONCE);

  // Provet's rate limits are per endpoint and add up: the client and patient lists (and the
  // codelists) are read side by side, each at the pace of its own endpoint's budget, so that the
  // slowest endpoint alone bounds the run. Each stream's watermark moves once that stream has
  // landed, whatever the other does; one that fails leaves its own where it was, lets the other
  // finish, then fails the run.
  const [codelists, clientStream, patientStream] = await Promise.allSettled([
    (async () => {
      await syncCodelists(ctx);
      await advanceWatermarks(ctx, ['custom_fields', 'species', 'breeds'], startedAt);
    })(),
    (async () => {
      await syncClients(ctx, clientsSince.since, { queueRereads: clientsSince.since !== null });
      await advanceWatermarks(ctx, ['clients'], startedAt, clientsSince.repair);
    })(),
    syncPatients(ctx, patientsSince.since),
  ]);
  let cascade: PromiseSettledResult<void> = { status: 'fulfilled', value: undefined };
  if (patientStream.status === 'fulfilled') {
    // The archive cascade (step 3): the patients of clients whose archived state flipped are read
    // again, then the patients watermark moves. After the client stream has settled, since it is
    // what queues the flips (with its pages: a failure loses none, and flips queued by an earlier
    // run that failed are read here too); after the patient stream, so that none of its pages, read
    // earlier, lands over a re-read (same `modified`, other content: the later commit wins). It
    // spends the patient endpoint's budget either way, so waiting costs the run no time. A flip the
    // client stream did not reach (it failed) is still ahead of the clients watermark: the next
    // run's client read queues it.
    [cascade] = await Promise.allSettled([
      (async () => {
        await rereadPatientsOfFlippedClients(ctx);
        await advanceWatermarks(ctx, ['patients'], startedAt, patientsSince.repair);
      })(),
    ]);
  }
  throwFirstFailure(
    [clientStream, patientStream, cascade, codelists],
    ['clients', 'patients', 'patient re-reads', 'codelists'],
  );
}

/** Rethrows the first failure of streams that ran side by side, naming the others that failed. */
function throwFirstFailure(results: PromiseSettledResult<void>[], names: string[]): void {
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ name: names[i]!, error: r.reason as unknown }] : [],
  );
  const first = failed[0];
  if (!first) return;
  const error = first.error instanceof Error ? first.error : new Error(String(first.error));
  if (failed.length > 1) {
    const others = failed.slice(1).map((f) => `${f.name}: ${(f.error as Error).message}`);
    error.message = `${error.message} (also failed: ${others.join('; ')})`;
  }
  throw error;
}

/**
 * Pages the client and patient streams hold at once, together, from their fetch until they have
 * landed (see Slots). Measured on a million-client backfill without rate limits, peak RSS: 2
 * slots 144 MB, 3 slots 147 MB, 4 slots 155 MB (one stream alone held up to 4 pages: 138 MB).
 * Under Provet's limits a stream waits for its budget far longer than a page takes to land, so two
 * slots cost the backfill no time there; without limits they cost about a tenth of its speed.
 */
const PAGES_HELD_AT_ONCE = 2;

/** Two clocks read a second apart at best (Date headers have whole seconds), plus request time. */
const CLOCK_TOLERANCE_MS = 5_000;

/**
 * How far Provet's clock has stepped back since the last run that landed, measured against the
 * database's clock (sync_runs.started_at): changes made after such a step carry stamps older
 * than the stored watermark, so the run reads back that much further.
 */
async function clockStepBack(pool: pg.Pool, runId: number, providerNow: Date, logger: Logger): Promise<number> {
  const result = await pool.query<{ previous: number | null; current: number | null }>(
    `SELECT (SELECT extract(epoch FROM provider_started_at - started_at) * 1000 FROM sync_runs
              WHERE id < $1 AND provider_started_at IS NOT NULL AND status IN ('succeeded', 'partial')
              ORDER BY id DESC LIMIT 1)::float8 AS previous,
            (SELECT extract(epoch FROM $2::timestamptz - started_at) * 1000 FROM sync_runs WHERE id = $1)::float8 AS current`,
    [runId, providerNow.toISOString()],
  );
  const { previous, current } = result.rows[0] ?? { previous: null, current: null };
  if (previous === null || current === null) return 0;
  const drift = previous - current;
  if (drift <= CLOCK_TOLERANCE_MS) return 0;
  // Generous on purpose: the measurement itself is only good to the tolerance.
  const stepBack = drift + CLOCK_TOLERANCE_MS;
  logger.warn(
    { stepBackSeconds: Math.round(stepBack / 1000) },
    "Provet's clock stepped back since the last run; reading back that much further",
  );
  return stepBack;
}

/**
 * The watermark this run may store: Provet's earliest time seen, never later than its start. When
 * Provet's clock stepped back during the run, that is earlier than the stored watermark may be,
 * and the watermark must be allowed to move back to it.
 */
function watermarkOf(ctx: RunContext, startedAt: Date, runStartedLocally: number): { to: Date; steppedBack: boolean } {
  const earliest = ctx.earliestServerDate;
  if (!earliest || earliest.getTime() >= startedAt.getTime() - CLOCK_TOLERANCE_MS)
    return { to: startedAt, steppedBack: false };
  // The step happened at some moment of this run, and changes right after it carry stamps up to
  // that long before the earliest Date seen: go back by the run's duration (and the Date's second).
  const to = new Date(earliest.getTime() - (Date.now() - runStartedLocally) - 1000);
  ctx.logger.warn(
    { startedAt: startedAt.toISOString(), earliest: earliest.toISOString(), watermark: to.toISOString() },
    "Provet's clock stepped back during this run; the watermark goes back before the step",
  );
  return { to, steppedBack: true };
}

/** Provet's time at the run's first response; the local clock only if Provet sent no Date. */
function providerStartTime(ctx: RunContext, logger: Logger): Date {
  if (ctx.providerStartedAt) return ctx.providerStartedAt;
  logger.warn('Provet sent no Date header; the watermark falls back to this machine clock');
  ctx.providerStartedAt = new Date();
  return ctx.providerStartedAt;
}

interface Since {
  /** null: read the whole list. */
  since: Date | null;
  /** The stored watermark is in the future and must be allowed to move back. */
  repair: boolean;
}

export function sinceFor(
  stream: StreamName,
  watermarks: Map<string, string>,
  providerNow: Date,
  lookbackSeconds: number,
  kind: 'full' | 'incremental',
  logger: Logger,
): Since {
  const stored = watermarks.get(stream);
  if (kind === 'full' || stored === undefined) return { since: null, repair: false };
  const watermark = Date.parse(stored);
  if (watermark > providerNow.getTime()) {
    logger.warn(
      { stream, watermark: stored, providerNow: providerNow.toISOString() },
      `the ${stream} watermark is ahead of Provet's clock; reading the whole list to be safe and resetting it`,
    );
    return { since: null, repair: true };
  }
  return { since: new Date(watermark - lookbackSeconds * 1000), repair: false };
}

async function advanceWatermarks(
  ctx: RunContext,
  streams: StreamName[],
  startedAt: Date,
  repair = false,
): Promise<void> {
  const { to, steppedBack } = watermarkOf(ctx, startedAt, ctx.localStartedAt ?? Date.now());
  await withLeasedTransaction(ctx.pool, ctx.runId, async (db) => {
    for (const stream of streams) {
      await advanceWatermark(db, stream, to.toISOString(), ctx.runId, { allowBackwards: repair || steppedBack });
    }
    ctx.failpoint('in-watermark');
  });
}
