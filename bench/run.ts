// provet-sync's benchmark: every scenario against a bound measured in the same run.
//
//   npm run bench            full run (100,000 clients; memory at 10k, 100k and 1M clients), 7-9 min here
//   npm run bench:quick      10,000 clients, no 1M memory point, about a minute
//   npx tsx bench/run.ts [--quick] [--no-profile] [--only 1,2,3,4,5] [--out path]
//
// The simulator and each sync run in child processes of their own (the sync as `node
// dist/cli.js sync`, configured by environment variables, so `npm run build` must have run);
// PostgreSQL is an embedded server on a free port, or BENCH_DATABASE_URL.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatMarkdown, formatTable, machineInfo, writeResults, type ResultRow } from './lib/report.js';
import { startBenchDatabase } from './lib/postgres.js';
import { runBackfill } from './scenarios/backfill.js';
import type { BenchContext } from './scenarios/context.js';
import { runLimited, runRealWindowBackfill } from './scenarios/limited.js';
import { runMemory } from './scenarios/memory.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

const quick = values.quick === true;
const plan = {
  mode: quick ? 'quick' : 'full',
  clients: quick ? 10_000 : 100_000,
  /** Scenario 2's rate window: Provet's 60 s compressed so the backfill takes a minute or two. */
  rateWindowSeconds: quick ? 6 : 3,
  /** Scenario 2 again with Provet's real 60 s window (about 3.5 min at 20,000 clients); not in --quick. */
  realWindowClients: quick ? 0 : 20_000,
  /** Scenario 3's change set: 1% of the clients, 1.5% of the patients' count. */
  changedClients: quick ? 100 : 1_000,
  changedPatients: quick ? 150 : 1_500,
  memorySizes: quick ? [10_000, 30_000] : [10_000, 100_000, 1_000_000],
  latencyMs: 2,
  /** Scenario 1's rounds of sync + bounds (see backfill.ts). */
  backfillRounds: quick ? 3 : 5,
  profile: values['no-profile'] !== true,
};
const only = new Set((values.only ?? '1,2,3,4,5').split(',').map((s) => s.trim()));
const out =
  values.out ?? fileURLToPath(new URL(quick ? './results/quick.json' : './results/latest.json', import.meta.url));

const started = performance.now();
const log = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
const workDir = await mkdtemp(join(tmpdir(), 'provet-bench-work-'));
const db = await startBenchDatabase();
log(`PostgreSQL ${db.version}: ${db.description}; logs in ${workDir}`);
const ctx: BenchContext = { db, workDir, latencyMs: plan.latencyMs, log };
const rows: ResultRow[] = [];
const details: Record<string, unknown> = {};
let failed = false;
try {
  let backfillPeak: { clients: number; peakRssMb: number | null } | undefined;
  if (only.has('1')) {
    const result = await runBackfill(ctx, plan.clients, { profile: plan.profile, rounds: plan.backfillRounds });
    rows.push(...result.rows);
    details.backfill = {
      rounds: result.rounds,
      sync: result.sync,
      cpu: result.cpu,
      records: result.records,
      fetchBound: result.fetch,
      copyBound: result.copy,
      profile: result.profile,
    };
    backfillPeak = { clients: plan.clients, peakRssMb: result.sync.peakRssMb };
  }
  if (only.has('2') || only.has('3') || only.has('4')) {
    const result = await runLimited(ctx, plan);
    rows.push(...result.rows);
    details.limited = result.details;
  }
  if (only.has('2') && plan.realWindowClients > 0) {
    const result = await runRealWindowBackfill(ctx, plan.realWindowClients);
    rows.push(...result.rows);
    details.realWindow = result.details;
  }
  if (only.has('5')) {
    const result = await runMemory(ctx, plan.memorySizes, backfillPeak);
    rows.push(...result.rows);
    details.memory = result.details;
  }
} catch (err) {
  failed = true;
  log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  const machine = machineInfo(db.version, db.description.replace(/ in \/.*$/, ''));
  await db.stop();
  if (!failed) await rm(workDir, { recursive: true, force: true });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  process.stdout.write(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}, node ${machine.node}, PostgreSQL ${machine.postgres}\n`,
  );
  process.stdout.write(`bench ${plan.mode} took ${seconds.toFixed(0)} s\n`);
  if (!failed) {
    await writeResults(out, {
      mode: plan.mode,
      finishedAt: new Date().toISOString(),
      seconds: Math.round(seconds),
      machine,
      plan,
      results: rows,
      markdown: formatMarkdown(rows),
      details,
    });
    log(`results written to ${out}`);
  }
}
process.exitCode = failed ? 1 : 0;
