// Running provet-sync as a child process, as the fault tests kill, stop and signal it.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Harness } from '../support/harness.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(h: Harness, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    LOG_LEVEL: 'info',
    PROVET_BASE_URL: h.sim.baseUrl,
    PROVET_CLIENT_ID: h.sim.clientId,
    PROVET_CLIENT_SECRET: h.sim.clientSecret,
    DATABASE_URL: h.testDatabase.url,
    PROVET_DB_SCHEMA: 'provet',
    PROVET_PAGE_SIZE: '50',
    PROVET_RETRY_DEADLINE_SECONDS: '10',
    ...extra,
  };
}

export interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
  output(): string;
}

export function startCli(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Bounded: no child outlives a minute, whatever the test does.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, exited, output: () => stdout };
}

/** Resolves once the child's log shows `pattern` (bounded by `timeoutMs`). */
export async function waitForOutput(running: Running, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output())) {
    if (Date.now() > deadline)
      throw new Error(`child did not log ${String(pattern)} within ${timeoutMs} ms:\n${running.output().slice(-2000)}`);
    if (running.child.exitCode !== null)
      throw new Error(`child exited before logging ${String(pattern)}:\n${running.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
