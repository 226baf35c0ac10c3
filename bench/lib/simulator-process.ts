// The parent's handle on the simulator child process (simulator-child.ts): start it, send it
// requests over IPC, read its peak memory, stop it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimulatorOptions } from '../../src/simulator/index.js';
import type { TapCounts } from './budget.js';
import type { ChangeSet, ChildRequest } from './simulator-child.js';

const CHILD = fileURLToPath(new URL('./simulator-child.ts', import.meta.url));

export interface SimulatorProcess {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  startupMs: number;
  /** The simulator's process id (for its CPU time). */
  pid: number | undefined;
  setLatency(ms: number): Promise<void>;
  setClockOffset(ms: number): Promise<void>;
  /** Empties the rate-limit windows and the request tap. */
  reset(): Promise<void>;
  tap(): Promise<TapCounts>;
  mutate(changes: ChangeSet): Promise<number>;
  stop(): Promise<void>;
}

export async function startSimulatorProcess(options: SimulatorOptions): Promise<SimulatorProcess> {
  // A million-client simulator holds large typed arrays; leave it room.
  const child: ChildProcess = fork(CHILD, [], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: { id: number; value?: unknown; error?: string }) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`simulator: ${message.error}`));
    else waiter?.resolve(message.value);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`simulator process exited with ${String(code)}`));
    pending.clear();
  });
  const call = <T>(request: ChildRequest): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...request, id });
    });

  const started = await call<{ baseUrl: string; clientId: string; clientSecret: string; startupMs: number }>({
    op: 'start',
    options,
  });
  return {
    ...started,
    pid: child.pid,
    setLatency: (ms) => call({ op: 'faults', latencyMs: ms }),
    setClockOffset: (ms) => call({ op: 'clock', offsetMs: ms }),
    reset: () => call({ op: 'reset' }),
    tap: () => call({ op: 'tap' }),
    mutate: (changes) => call({ op: 'mutate', changes }),
    stop: async () => {
      if (child.exitCode !== null) return;
      await call({ op: 'stop' }).catch(() => {});
      await exited;
    },
  };
}
