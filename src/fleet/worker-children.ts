// The demo's worker processes (`provet-sync worker` children started the way this process was)
// and its bounded waits: a wait fails when a worker the demo did not stop has exited, with the
// worker's last lines, so that the demo never hangs on a worker that is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface WorkerChild {
  n: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it wrote, for the message when it fails. */
  tail: string[];
  /** Killed or stopped by the demo: its exit is not a failure. */
  stopping: boolean;
}

/** A step of the demo that could not be done: its message is the whole story. */
export class FleetDemoError extends Error {}

/**
 * A `provet-sync worker` child, started the way this process was (node, its flags, e.g. tsx's
 * loader in the tests, and the same entry script). Its log lines are passed on to `err`.
 */
export function spawnWorker(n: number, env: NodeJS.ProcessEnv, err: Writable): WorkerChild {
  const entry = process.argv[1];
  if (!entry) throw new FleetDemoError('cannot tell how provet-sync was started (no entry script in process.argv)');
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const child = spawn(process.execPath, [...execArgv, entry, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const worker: WorkerChild = {
    n,
    child,
    tail: [],
    stopping: false,
    exited: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  const onLine = (line: string) => {
    if (!line.trim()) return;
    worker.tail.push(line);
    if (worker.tail.length > 40) worker.tail.shift();
    let text = line;
    try {
      const parsed = JSON.parse(line) as { level?: number; msg?: string };
      text = `${LEVELS[parsed.level ?? 30] ?? 'LOG'} ${parsed.msg ?? line}`;
    } catch {
      // not a log line: passed on as it is
    }
    err.write(`[worker ${n}] ${text}\n`);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) onLine(line);
    });
    stream.on('end', () => onLine(buffered));
  }
  return worker;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * Polls `check` until it returns something truthy; fails after `timeoutMs`, when a worker the demo
 * did not stop has exited (with its last lines), or when the demo is stopped.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal,
  workers: readonly WorkerChild[],
  check: () => Promise<T | undefined | null | false>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    for (const w of workers) {
      if (!w.stopping && (w.child.exitCode !== null || w.child.signalCode !== null))
        throw new FleetDemoError(
          `worker ${w.n} exited (${w.child.exitCode ?? w.child.signalCode}) while waiting for ${what}:\n${w.tail.join('\n')}`,
        );
    }
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new FleetDemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new FleetDemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
