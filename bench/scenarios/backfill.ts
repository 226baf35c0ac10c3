// Scenario 1, backfill without rate limits: provet-sync against (a) fetching every page at the
// same concurrency and (b) COPY of the same rows into the same tables; optionally a CPU profile.
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { measureCopyBound, measureFetchBound } from '../lib/bounds.js';
import { postgresCpuSeconds, processCpuSeconds } from '../lib/cpu.js';
import { summariseProfile, type ProfileSummary } from '../lib/profile.js';
import { fmt, median, type ResultRow } from '../lib/report.js';
import { startSimulatorProcess } from '../lib/simulator-process.js';
import { imageNodeFlags } from '../lib/image-entrypoint.js';
import { measureSync, type SyncMeasurement } from '../lib/sync-process.js';
import type { BenchContext } from './context.js';

/** PROVET_RATE_WINDOW_SECONDS for a simulator without limits: the client's budget never waits. */
export const UNLIMITED_WINDOW_SECONDS = 0.001;

/**
 * Room for every record the backfill reads, rendered (about 250 MB at 100,000 clients): after
 * the warm-up read the simulator serves pages by copying, as a real Provet's CPU is not the
 * machine's the sync runs on. (Rendered afresh, its pages cost about 2.5 s of the two cores.)
 */
const SIMULATOR_RENDER_CACHE_BYTES = 1024 * 1024 * 1024;

/** CPU seconds each process spent during the measured sync; null where it could not be read. */
interface BackfillCpu {
  sync: number | null;
  postgres: number | null;
  simulator: number | null;
  cores: number;
}

/** One round: the sync into an empty schema, then both bounds on what it wrote. */
interface BackfillRound {
  sync: SyncMeasurement;
  cpu: BackfillCpu;
  fetch: Awaited<ReturnType<typeof measureFetchBound>>;
  copy: Awaited<ReturnType<typeof measureCopyBound>>;
}

export interface BackfillResult {
  rows: ResultRow[];
  /** The round whose sync wall time is the median (its CPU figures are the ones reported). */
  sync: SyncMeasurement;
  cpu: BackfillCpu;
  records: { clients: number; patients: number; phoneNumbers: number; fieldValues: number };
  fetch: Awaited<ReturnType<typeof measureFetchBound>>;
  copy: Awaited<ReturnType<typeof measureCopyBound>>;
  /** Wall times of every round, in the order they ran. */
  rounds: { syncMs: number; fetchMs: number; copyMs: number; ratio: number }[];
  profile: ProfileSummary | null;
}

/**
 * Rounds of sync + bounds. This machine's timings wander by 10-20% from one minute to the next,
 * and by more over ten minutes (a shared VM): each round measures the sync and both bounds within
 * a minute of each other, and the target is judged on the median of the rounds' own ratios, so
 * a slow stretch lands on both sides of a ratio rather than one. The ratio of the medians is
 * reported too. `rounds`: 5 in the full run, 3 in the quick one.
 */
export async function runBackfill(
  ctx: BenchContext,
  clients: number,
  options: { profile: boolean; rounds: number },
): Promise<BackfillResult> {
  const sim = await startSimulatorProcess({
    clients,
    seed: 1,
    rateLimit: false,
    renderCacheBytes: SIMULATOR_RENDER_CACHE_BYTES,
  });
  const schema = 'bench_backfill';
  try {
    await sim.setLatency(ctx.latencyMs);
    ctx.log(
      `scenario 1: simulator with ${fmt.int(clients)} clients up in ${fmt.s(sim.startupMs)}; warming it up with one read of every page`,
    );
    await measureFetchBound(sim.baseUrl, sim.clientId, sim.clientSecret);
    const target = { ...sim, databaseUrl: ctx.db.url, schema, rateWindowSeconds: UNLIMITED_WINDOW_SECONDS };
    const rounds: BackfillRound[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      await ctx.db.dropSchema(schema);
      ctx.log(
        `scenario 1, round ${round}/${options.rounds}: full sync (node ${imageNodeFlags().join(' ')} dist/cli.js sync)`,
      );
      const before = { postgres: postgresCpuSeconds(), simulator: processCpuSeconds(sim.pid) };
      const sync = await measureSync(target, ctx.db.pool, { logFile: join(ctx.workDir, `backfill-${round}.log`) });
      const after = { postgres: postgresCpuSeconds(), simulator: processCpuSeconds(sim.pid) };
      const spent = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
      const cpu: BackfillCpu = {
        sync: sync.cpuSeconds,
        postgres: ctx.db.description.startsWith('embedded') ? spent(before.postgres, after.postgres) : null,
        simulator: spent(before.simulator, after.simulator),
        cores: availableParallelism(),
      };
      ctx.log(`scenario 1, round ${round}: synced in ${fmt.s(sync.wallMs)}; bound (a): fetching every page`);
      const fetch = await measureFetchBound(sim.baseUrl, sim.clientId, sim.clientSecret);
      ctx.log(
        `scenario 1, round ${round}: bound (a) ${fmt.s(fetch.ms)}; bound (b): COPY into empty copies of the tables`,
      );
      const copy = await measureCopyBound(ctx.db.pool, schema, 'bench_copy');
      ctx.log(`scenario 1, round ${round}: bound (b) ${fmt.s(copy.ms)}`);
      rounds.push({ sync, cpu, fetch, copy });
    }
    const { rows } = await ctx.db.pool.query(
      `SELECT (SELECT count(*) FROM ${schema}.clients) AS clients, (SELECT count(*) FROM ${schema}.patients) AS patients,
              (SELECT count(*) FROM ${schema}.phone_numbers) AS phones, (SELECT count(*) FROM ${schema}.custom_field_values) AS vals`,
    );
    const records = {
      clients: Number(rows[0].clients),
      patients: Number(rows[0].patients),
      phoneNumbers: Number(rows[0].phones),
      fieldValues: Number(rows[0].vals),
    };
    const middle = rounds.find((r) => r.sync.wallMs === median(rounds.map((x) => x.sync.wallMs)))!;
    const fetch = rounds.find((r) => r.fetch.ms === median(rounds.map((x) => x.fetch.ms)))!.fetch;
    const copy = rounds.find((r) => r.copy.ms === median(rounds.map((x) => x.copy.ms)))!.copy;

    let profile: ProfileSummary | null = null;
    if (options.profile) {
      ctx.log('scenario 1: the same backfill again under --cpu-prof');
      const dir = join(ctx.workDir, 'profile');
      await mkdir(dir, { recursive: true });
      await ctx.db.dropSchema('bench_profile');
      const profiled = await measureSync({ ...target, schema: 'bench_profile' }, ctx.db.pool, {
        logFile: join(ctx.workDir, 'profile.log'),
        profileDir: dir,
      });
      if (profiled.profilePath) profile = await summariseProfile(profiled.profilePath);
      await ctx.db.dropSchema('bench_profile');
    }
    const summary = { sync: middle.sync, cpu: middle.cpu, records, fetch, copy, profile };
    return {
      ...summary,
      rows: backfillRows(summary, rounds),
      rounds: rounds.map((r) => ({
        syncMs: r.sync.wallMs,
        fetchMs: r.fetch.ms,
        copyMs: r.copy.ms,
        ratio: roundRatio(r),
      })),
    };
  } finally {
    await sim.stop();
  }
}

/** A round's sync wall time over the larger of its own two bounds. */
function roundRatio(r: BackfillRound): number {
  return r.sync.wallMs / Math.max(r.fetch.ms, r.copy.ms);
}

function backfillRows(
  { sync, cpu, records, fetch, copy, profile }: Omit<BackfillResult, 'rows' | 'rounds'>,
  rounds: readonly BackfillRound[],
): ResultRow[] {
  const s = `1 backfill, no limits (${fmt.int(records.clients)} clients, ${fmt.int(records.patients)} patients)`;
  const mirrored = records.clients + records.patients;
  const larger = Math.max(fetch.ms, copy.ms);
  const ratioOfMedians = sync.wallMs / larger;
  const roundRatios = rounds.map(roundRatio);
  const ratio = median(roundRatios);
  const each = (ms: (r: BackfillRound) => number) => rounds.map((r) => (ms(r) / 1000).toFixed(1)).join(' / ');
  const rows: ResultRow[] = [
    {
      scenario: s,
      figure: `provet-sync wall time, median of ${rounds.length} (each round, s)`,
      value: `${fmt.s(sync.wallMs)} (${each((r) => r.sync.wallMs)})`,
      target: '',
      met: null,
    },
    {
      scenario: s,
      figure: 'provet-sync records/s (clients + patients)',
      value: fmt.int(mirrored / (sync.wallMs / 1000)),
      target: '',
      met: null,
    },
    {
      scenario: s,
      figure: 'bound (a): fetch every page, 1 in flight',
      value: `${fmt.s(fetch.ms)} (${each((r) => r.fetch.ms)}; ${fmt.int(mirrored / (fetch.ms / 1000))}/s)`,
      target: '',
      met: null,
    },
    {
      scenario: s,
      figure: 'bound (b): COPY the same rows, same indexes',
      value: `${fmt.s(copy.ms)} (${each((r) => r.copy.ms)}; ${fmt.int(copy.rows)} rows)`,
      target: '',
      met: null,
    },
    {
      scenario: s,
      figure: 'wall time / larger bound, median of the rounds (each round)',
      value: `${fmt.x(ratio)} (${roundRatios.map((r) => r.toFixed(2)).join(' / ')})`,
      target: '<= 1.50x',
      met: ratio <= 1.5,
    },
    {
      scenario: s,
      figure: 'median wall time / larger of the two median bounds',
      value: fmt.x(ratioOfMedians),
      target: '',
      met: null,
    },
  ];
  if (cpu.sync !== null && cpu.postgres !== null && cpu.simulator !== null) {
    // Everything runs on this one machine: however well the work overlaps, the wall time cannot
    // be below the CPU time of the three processes spread over every core.
    const floor = (cpu.sync + cpu.postgres + cpu.simulator) / cpu.cores;
    rows.push(
      {
        scenario: s,
        figure: 'CPU during the median sync: provet-sync + PostgreSQL + simulator',
        value: `${fmt.s(cpu.sync * 1000)} + ${fmt.s(cpu.postgres * 1000)} + ${fmt.s(cpu.simulator * 1000)}`,
        target: '',
        met: null,
      },
      {
        scenario: s,
        figure: `that CPU over ${cpu.cores} cores / larger bound`,
        value: fmt.x((floor * 1000) / larger),
        target: '',
        met: null,
      },
    );
  }
  if (profile) {
    rows.push(
      { scenario: s, figure: 'profile: main thread busy', value: fmt.pct(profile.busyShare), target: '', met: null },
      {
        scenario: s,
        figure: 'profile: JSON + validation/mapping share of wall time',
        value: fmt.pct(profile.jsonAndMappingShare),
        target: '< 50% (not CPU-bound on them)',
        met: profile.jsonAndMappingShare < 0.5,
      },
    );
  }
  return rows;
}
