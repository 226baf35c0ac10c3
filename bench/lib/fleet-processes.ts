// The fleet benchmark's child processes: the simulators' process (fleet-simulator-child.ts,
// driven over IPC) and the workers, each `node <image flags> dist/cli.js worker` under GNU time
// (-v: peak RSS and CPU time at exit), with its CPU so far read from /proc while it runs. Every
// child is killed when the benchmark exits, however it exits.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { processCpuSeconds } from './cpu.js';
import type { FleetChildRequest, FleetSiteSpec, FleetSiteStarted } from './fleet-simulator-child.js';
import { imageNodeFlags } from './image-entrypoint.js';

const CHILD = fileURLToPath(new URL('./fleet-simulator-child.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';

const children = new Set<ChildProcess>();
const killAll = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface FleetSimulators {
  pid: number | undefined;
  start(sites: FleetSiteSpec[]): Promise<FleetSiteStarted[]>;
  /** Sets the client's city; resolves to the time of the change (ms since the epoch). */
  touch(name: string, clientId: number, city: string): Promise<number>;
  latency(name: string, latencyMs: number): Promise<void>;
  stop(): Promise<void>;
}

export function startFleetSimulators(): FleetSimulators {
  const child = track(
    fork(CHILD, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: { id: number; value?: unknown; error?: string }) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`simulators: ${message.error}`));
    else waiter?.resolve(message.value);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`simulators' process exited with ${String(code)}`));
    pending.clear();
  });
  const call = <T>(request: FleetChildRequest): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...request, id });
    });
  return {
    pid: child.pid,
    start: (sites) => call({ op: 'start', sites }),
    touch: (name, clientId, city) => call({ op: 'touch', name, clientId, city }),
    latency: (name, latencyMs) => call({ op: 'latency', name, latencyMs }),
    stop: async () => {
      if (child.exitCode !== null) return;
      await Promise.race([call({ op: 'stop' }).catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface WorkerExit {
  /** GNU time's maximum resident set size, MB; null without GNU time. */
  peakRssMb: number | null;
  cpuSeconds: number | null;
  signal: string | null;
}

export interface FleetWorker {
  label: string;
  /** The node process's id (GNU time's child): the one to signal and the one in worker_heartbeats. */
  pid: number;
  /** CPU seconds of the node process so far (/proc). */
  cpu(): number | null;
  /** Peak RSS so far (VmHWM), MB. */
  hwmMb(): number | null;
  exited: Promise<WorkerExit>;
  alive(): boolean;
  /** SIGTERM, then SIGKILL if it has not exited within 30 s. */
  stop(): Promise<WorkerExit>;
  kill(): Promise<WorkerExit>;
}

function childPidOf(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text ? Number(text.split(/\s+/)[0]) : null;
  } catch {
    return null;
  }
}

function vmHwmMb(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export async function startFleetWorker(
  label: string,
  env: Record<string, string>,
  logFile: string,
  timeFile: string,
): Promise<FleetWorker> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench:fleet does)`);
  const useTime = existsSync(GNU_TIME);
  const nodeArgs = [...imageNodeFlags(), CLI, 'worker'];
  const [command, args] = useTime
    ? [GNU_TIME, ['-v', '-o', timeFile, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const { createWriteStream } = await import('node:fs');
  const log = createWriteStream(logFile);
  const child = track(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let nodePid: number | null = useTime ? null : (child.pid ?? null);
  for (let i = 0; i < 100 && nodePid === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    nodePid = childPidOf(child.pid!);
  }
  if (nodePid === null) throw new Error(`worker ${label}: its node process did not start`);
  const pid = nodePid;
  let lastHwm: number | null = null;
  const exited = new Promise<WorkerExit>((resolve) =>
    child.once('exit', (_code, signal) => {
      void (async () => {
        let peakRssMb: number | null = lastHwm;
        let cpuSeconds: number | null = null;
        let killedBy: string | null = signal;
        if (useTime) {
          const text = await readFile(timeFile, 'utf8').catch(() => '');
          const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
          const user = /User time \(seconds\): ([\d.]+)/.exec(text);
          const sys = /System time \(seconds\): ([\d.]+)/.exec(text);
          if (rss) peakRssMb = Number(rss[1]) / 1024;
          if (user && sys) cpuSeconds = Number(user[1]) + Number(sys[1]);
          const sig = /terminated by signal (\d+)/.exec(text);
          if (sig) killedBy = `signal ${sig[1]}`;
        }
        log.end();
        resolve({ peakRssMb, cpuSeconds, signal: killedBy });
      })();
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const hwm = () => {
    const v = vmHwmMb(pid);
    if (v !== null) lastHwm = v;
    return lastHwm;
  };
  const poll = setInterval(hwm, 1000);
  void exited.then(() => clearInterval(poll));
  const signalAndWait = async (signal: NodeJS.Signals) => {
    if (alive()) process.kill(pid, signal);
    const timer = setTimeout(() => {
      if (alive()) {
        process.kill(pid, 'SIGKILL');
        child.kill('SIGKILL');
      }
    }, 30_000);
    const exit = await exited;
    clearTimeout(timer);
    return exit;
  };
  return {
    label,
    pid,
    cpu: () => processCpuSeconds(pid),
    hwmMb: hwm,
    exited,
    alive,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
  };
}

/** Runs `node dist/cli.js <args>` to its end (bounded), failing with its output if it fails. */
export async function runCli(args: string[], env: Record<string, string>): Promise<string> {
  const child = track(spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(guard);
  if (code !== 0) throw new Error(`provet-sync ${args.join(' ')} exited with ${String(code)}:\n${output.slice(-3000)}`);
  return output;
}

function statOf(pid: string): { comm: string; ppid: number; cpu: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const f = text.slice(close + 2).split(' ');
    // After comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14); USER_HZ 100.
    const cpu = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
    return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(f[1]), cpu };
  } catch {
    return null;
  }
}

/**
 * CPU seconds of the benchmark's own PostgreSQL: the postmaster started with `-D <dataDir>` and
 * its children, with the CPU of exited backends (reaped into the postmaster's cutime). Other
 * PostgreSQL servers on the machine (a test suite's) are not counted. Null without /proc or
 * without the server (BENCH_DATABASE_URL).
 */
export function ownPostgresCpuSeconds(dataDir: string | null): number | null {
  if (dataDir === null) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let postmaster: number | null = null;
  for (const pid of pids) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const at = args.indexOf('-D');
      if (at >= 0 && args[at + 1] !== undefined && args[at + 1]!.replace(/\/$/, '') === dataDir.replace(/\/$/, '')) {
        postmaster = Number(pid);
        break;
      }
    } catch {
      // gone
    }
  }
  if (postmaster === null) return null;
  let total = 0;
  for (const pid of pids) {
    const s = statOf(pid);
    if (s && (Number(pid) === postmaster || s.ppid === postmaster)) total += s.cpu;
  }
  return total;
}
