// Scenario 5, memory: the sync process's peak RSS for full syncs of growing installations (no
// rate limits, so even a million clients is read page by page in a few minutes). It must not
// grow with the data set.
import { join } from 'node:path';
import { fmt, median, type ResultRow } from '../lib/report.js';
import { startSimulatorProcess } from '../lib/simulator-process.js';
import { measureSync } from '../lib/sync-process.js';
import { UNLIMITED_WINDOW_SECONDS } from './backfill.js';
import type { BenchContext } from './context.js';

interface MemoryPoint {
  clients: number;
  peakRssMb: number | null;
  wallMs: number | null;
  recordsFetched: number | null;
  /** Taken from scenario 1's sync instead of a run of its own. */
  fromBackfill: boolean;
  /** Syncs measured; the point is the one with the median peak. */
  rounds?: number;
}

/**
 * A short sync's peak is read over a few seconds, a long one's over minutes, and RSS wanders by
 * 10-15 MB from moment to moment (pages in flight, garbage between collections): one short run
 * can land at either end. Short runs are cheap, so the small points are the median of three.
 */
const SHORT_RUN_CLIENTS = 30_000;
const SHORT_RUN_ROUNDS = 3;

export async function runMemory(
  ctx: BenchContext,
  sizes: readonly number[],
  fromBackfill: { clients: number; peakRssMb: number | null } | undefined,
): Promise<{ rows: ResultRow[]; details: MemoryPoint[] }> {
  const points: MemoryPoint[] = [];
  for (const clients of sizes) {
    if (fromBackfill && fromBackfill.clients === clients) {
      points.push({
        clients,
        peakRssMb: fromBackfill.peakRssMb,
        wallMs: null,
        recordsFetched: null,
        fromBackfill: true,
      });
      continue;
    }
    const sim = await startSimulatorProcess({ clients, seed: 2, rateLimit: false });
    const schema = `bench_memory_${clients}`;
    try {
      await sim.setLatency(ctx.latencyMs);
      const rounds = clients <= SHORT_RUN_CLIENTS ? SHORT_RUN_ROUNDS : 1;
      ctx.log(
        `scenario 5: simulator with ${fmt.int(clients)} clients up in ${fmt.s(sim.startupMs)}; ${rounds > 1 ? `${rounds} full syncs` : 'full sync'}`,
      );
      const syncs = [];
      for (let round = 1; round <= rounds; round++) {
        await ctx.db.dropSchema(schema);
        const sync = await measureSync(
          { ...sim, databaseUrl: ctx.db.url, schema, rateWindowSeconds: UNLIMITED_WINDOW_SECONDS },
          ctx.db.pool,
          { logFile: join(ctx.workDir, `memory-${clients}-${round}.log`) },
        );
        ctx.log(
          `scenario 5: ${fmt.int(clients)} clients synced in ${fmt.s(sync.wallMs)}, peak RSS ${fmt.mb(sync.peakRssMb)}`,
        );
        syncs.push(sync);
      }
      const middle = median(syncs.map((s) => s.peakRssMb ?? 0));
      const sync = syncs.find((s) => (s.peakRssMb ?? 0) === middle)!;
      points.push({
        clients,
        peakRssMb: sync.peakRssMb,
        wallMs: sync.wallMs,
        recordsFetched: sync.recordsFetched,
        fromBackfill: false,
        rounds,
      });
    } finally {
      await sim.stop();
      await ctx.db.dropSchema(schema);
    }
  }
  return { rows: memoryRows(points), details: points };
}

function memoryRows(points: MemoryPoint[]): ResultRow[] {
  const s = '5 memory (full sync, peak RSS of the sync process)';
  const base = points.find((p) => p.clients === 10_000)?.peakRssMb ?? null;
  const rows: ResultRow[] = [];
  for (const p of points) {
    const median = p.rounds !== undefined && p.rounds > 1 ? `, median of ${p.rounds} syncs` : '';
    const how = p.fromBackfill
      ? ' (scenario 1, median round)'
      : p.wallMs === null
        ? ''
        : `${median}, synced in ${fmt.s(p.wallMs)}`;
    const growth = base !== null && p.peakRssMb !== null && p.clients !== 10_000 ? p.peakRssMb / base - 1 : null;
    const isMillion = p.clients === 1_000_000;
    rows.push({
      scenario: s,
      figure: `peak RSS at ${fmt.int(p.clients)} clients${how}`,
      value: fmt.mb(p.peakRssMb) + (growth === null ? '' : ` (${growth >= 0 ? '+' : ''}${fmt.pct(growth)} vs 10k)`),
      target: isMillion ? '< 200 MB and within 25% of 10k' : p.clients === 10_000 ? '' : 'within 25% of 10k',
      met:
        p.peakRssMb === null || base === null || p.clients === 10_000
          ? null
          : (growth ?? 0) <= 0.25 && (!isMillion || p.peakRssMb < 200),
    });
  }
  if (!points.some((p) => p.clients === 1_000_000)) {
    rows.push({
      scenario: s,
      figure: 'peak RSS at 1,000,000 clients',
      value: 'not run (--quick)',
      target: '< 200 MB and within 25% of 10k',
      met: null,
    });
  }
  return rows;
}
