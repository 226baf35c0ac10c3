// One measured sync: `node dist/cli.js sync` in a child process, with the node flags of the
// Docker image's ENTRYPOINT, configured by environment variables as a user would, with its wall
// time, its peak RSS and CPU time (GNU time's %M, %U and %S when /usr/bin/time is there, else the
// kernel's VmHWM polled and no CPU time), and the run's row from sync_runs.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { imageNodeFlags } from './image-entrypoint.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';

export interface SyncTarget {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  databaseUrl: string;
  schema: string;
  /** PROVET_RATE_WINDOW_SECONDS: the simulator's window, or a tiny one when the simulator has no limits. */
  rateWindowSeconds: number;
}

export interface SyncMeasurement {
  wallMs: number;
  peakRssMb: number | null;
  /** User + system CPU seconds of the sync process (GNU time), null without it. */
  cpuSeconds: number | null;
  /** started_at to finished_at of the run in sync_runs (without process start and migrations). */
  runMs: number;
  status: string;
  recordsFetched: number;
  recordsWritten: number;
  requests: number;
  throttled: number;
  /** The CPU profile written with --cpu-prof, when asked for. */
  profilePath?: string;
}

export async function measureSync(
  target: SyncTarget,
  pool: pg.Pool,
  options: { full?: boolean; logFile: string; profileDir?: string; extraEnv?: Record<string, string> },
): Promise<SyncMeasurement> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(PROVET_|DATABASE_|SYNC_|EMBEDDED_PG_|LOG_LEVEL)/.test(key)) env[key] = value;
  }
  Object.assign(env, {
    PROVET_BASE_URL: target.baseUrl,
    PROVET_CLIENT_ID: target.clientId,
    PROVET_CLIENT_SECRET: target.clientSecret,
    DATABASE_URL: target.databaseUrl,
    PROVET_DB_SCHEMA: target.schema,
    PROVET_RATE_WINDOW_SECONDS: String(target.rateWindowSeconds),
    LOG_LEVEL: 'info',
    ...options.extraEnv,
  });
  const nodeArgs = [
    ...imageNodeFlags(),
    ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
  ];
  const cliArgs = [CLI, 'sync', ...(options.full ? ['--full'] : [])];
  const rssFile = `${options.logFile}.rss`;
  const useTime = existsSync(GNU_TIME);
  const [command, args] = useTime
    ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, process.execPath, ...nodeArgs, ...cliArgs]]
    : [process.execPath, [...nodeArgs, ...cliArgs]];

  const started = performance.now();
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  let polledKb = 0;
  const poll = useTime ? undefined : setInterval(() => (polledKb = Math.max(polledKb, vmHwmKb(child.pid) ?? 0)), 50);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const wallMs = performance.now() - started;
  if (poll) clearInterval(poll);
  await writeFile(options.logFile, output);
  if (code !== 0)
    throw new Error(
      `sync into ${target.schema} exited with ${String(code)}; log in ${options.logFile}:\n${output.slice(-3000)}`,
    );

  let peakKb: number | null = polledKb || null;
  let cpuSeconds: number | null = null;
  if (useTime) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    const match = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(text.trim());
    const kb = Number(match?.[1]);
    peakKb = Number.isFinite(kb) && kb > 0 ? kb : null;
    if (match) cpuSeconds = Number(match[2]) + Number(match[3]);
  }
  const { rows } = await pool.query(
    `SELECT status, records_fetched, records_written, requests, throttled,
            extract(epoch FROM finished_at - started_at) * 1000 AS run_ms
       FROM ${target.schema}.sync_runs ORDER BY id DESC LIMIT 1`,
  );
  const run = rows[0];
  if (!run) throw new Error(`no sync_runs row in ${target.schema}`);
  const profile = options.profileDir ? newestProfile(options.profileDir) : undefined;
  return {
    wallMs,
    peakRssMb: peakKb === null ? null : peakKb / 1024,
    cpuSeconds,
    runMs: Number(run.run_ms),
    status: String(run.status),
    recordsFetched: Number(run.records_fetched),
    recordsWritten: Number(run.records_written),
    requests: Number(run.requests),
    throttled: Number(run.throttled),
    ...(profile ? { profilePath: profile } : {}),
  };
}

function vmHwmKb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function newestProfile(dir: string): string | undefined {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    .at(0);
}
