// The CLI's answers and its logs, as a shell sees them: real child processes with no DATABASE_URL,
// so each starts the embedded PostgreSQL (in a temporary folder, on a free port) and logs about it.
// `status --json` must print JSON only on stdout (`| jq .` works), its logs on stderr; the demo's
// --serve must keep the database up for psql or Metabase until Ctrl-C, then exit 0.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

let dir: string;
let embeddedEnv: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provet-sync-cli-output-'));
  // As root, the embedded PostgreSQL runs as 'postgres', which must be able to enter the folder.
  await chmod(dir, 0o755);
  embeddedEnv = { EMBEDDED_PG_DIR: join(dir, 'pg'), EMBEDDED_PG_PORT: String(await freePort()) };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** No DATABASE_URL: the embedded PostgreSQL. LOG_LEVEL=info, so that there are log lines to keep apart. */
function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...embeddedEnv, ...env },
    stdio: 'pipe',
  });
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcessWithoutNullStreams): {
  stdout: () => string;
  stderr: () => string;
  finished: Promise<Finished>;
} {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const finished = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { stdout: () => stdout, stderr: () => stderr, finished };
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return collect(spawnCli(args, env)).finished;
}

describe('answers on stdout, logs on stderr', () => {
  it('status --json prints JSON only on stdout, its log lines (JSON, not a terminal) on stderr', async () => {
    const result = await runCli(['status', '--json']);
    expect(result.stderr).not.toMatch(/"level":[45]0/); // no warning or error
    expect(result.code).toBe(0);
    // The whole of stdout is one JSON document: what `| jq .` needs.
    const status = JSON.parse(result.stdout) as { schema: string; streams: unknown[]; lastRun: unknown };
    expect(status).toMatchObject({ schema: 'provet', lastRun: null });
    // The embedded database's start was logged, on stderr, as JSON lines.
    const logs = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; service: string });
    // How to connect, without the password: psql reads it from the file PGPASSFILE names.
    const passwordFile = join(embeddedEnv.EMBEDDED_PG_DIR!, 'provet-sync.pgpass');
    expect(logs.map((l) => l.msg)).toContain(
      `embedded PostgreSQL ready: PGPASSFILE=${passwordFile} psql postgres://postgres@127.0.0.1:${embeddedEnv.EMBEDDED_PG_PORT}/provet`,
    );
    const password = /:([^:\n]+)\n$/.exec(await readFile(passwordFile, 'utf8'))![1]!;
    expect(result.stderr).not.toContain(password);
  });

  it('status (the table) with LOG_FORMAT=pretty: the table on stdout, readable log lines on stderr', async () => {
    const result = await runCli(['status'], { LOG_FORMAT: 'pretty' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^schema: provet\n\nSTREAM\s+WATERMARK \(UTC\)\s+LAG\s+ROWS/);
    expect(result.stdout).not.toMatch(/INFO|"level"/);
    // "[12:34:56.789] INFO: embedded PostgreSQL ready: ...", no colours (stderr is a pipe), no JSON.
    expect(result.stderr).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: embedded PostgreSQL ready: PGPASSFILE=\S+ psql postgres:\/\/postgres@127\.0\.0\.1:\d+\/provet/m,
    );
    expect(result.stderr).not.toMatch(/"level"/);
    expect(result.stderr).not.toContain('\u001b['); // an ANSI colour
  });
});

describe('demo', () => {
  it('without --serve, says the database has stopped and how to keep it up', async () => {
    const result = await runCli(['demo']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^5\. Incremental sync: /m);
    expect(result.stdout).not.toMatch(/Connect with/);
    expect(result.stdout).toMatch(/The embedded PostgreSQL has stopped with the demo; its data stays in .*pg\.\n/);
    expect(result.stdout).toMatch(/run `provet-sync demo --serve`/);
    // psql with the password in its file (not on a command line others can read), and the
    // connection string it would answer to, password included: the tour is for the local user.
    expect(result.stdout).toMatch(
      /^ {3}PGPASSFILE=\S*provet-sync\.pgpass psql postgres:\/\/postgres@127\.0\.0\.1:\d+\/provet$/m,
    );
    expect(result.stdout).toMatch(
      /\(connection string postgres:\/\/postgres:[A-Za-z0-9_-]{43}@127\.0\.0\.1:\d+\/provet; the password is kept in that file/,
    );
    // Its log lines (the embedded database's start) are on stderr, not in the tour.
    expect(result.stdout).not.toMatch(/"level"/);
    expect(result.stderr).toMatch(/"msg":"starting the embedded PostgreSQL"|"msg":"embedded PostgreSQL ready/);
  });

  it('with --serve, keeps PostgreSQL up for psql and Metabase until SIGINT, then exits 0', async () => {
    const child = spawnCli(['demo', '--serve']);
    const out = collect(child);
    try {
      // The connection details, printed once everything is up: wait for them (or for an early exit).
      const printed = await new Promise<string>((resolve, reject) => {
        const check = () => {
          if (/^ {3}Sync again: /m.test(out.stdout())) resolve(out.stdout());
        };
        child.stdout.on('data', check);
        void out.finished.then((r) =>
          reject(new Error(`demo --serve exited with ${r.code} before serving:\n${r.stdout}\n${r.stderr}`)),
        );
      });
      const fullSync = /^3\. Full sync: (\d+) clients/m.exec(printed);
      expect(fullSync).not.toBeNull();
      const clients = Number(fullSync![1]);
      expect(clients).toBeGreaterThan(0);

      // psql's line, as a person would paste it: the password in a file (not on psql's command
      // line, which every local user can read), and the connection string with it for other tools.
      const psql = /^ {3}psql: +PGPASSFILE=(\S+) psql (postgres:\/\/\S+)$/m.exec(printed);
      expect(psql).not.toBeNull();
      expect(psql![2]).not.toMatch(/:[^/@]*@/);
      const connectionString = /^ +\(connection string (postgres:\/\/\S+)\)$/m.exec(printed);
      expect(connectionString).not.toBeNull();
      // The file is libpq's password file: host:port:database:user:password.
      const passwordLine = readFileSync(psql![1]!, 'utf8').trim().split('\n')[0]!;
      expect(new URL(connectionString![1]!).password).toBe(passwordLine.split(':').slice(4).join(':'));
      expect(printed).toMatch(/then: SET search_path TO provet_demo;/);
      const viaPsqlUrl = new pg.Client({ connectionString: connectionString![1] });
      await viaPsqlUrl.connect();
      try {
        await viaPsqlUrl.query('SET search_path TO provet_demo');
        const { rows } = await viaPsqlUrl.query<{ n: number }>('SELECT count(*)::int AS n FROM clients');
        expect(rows[0]!.n).toBe(clients);
      } finally {
        await viaPsqlUrl.end();
      }

      // Metabase's form: host, port, database name, username, password, schema.
      const metabase =
        /host (\S+), port (\d+), database name (\S+), username (\S+), password (\S+),\n +and under "Schemas", "Only these…": (\w+)/.exec(
          printed,
        );
      expect(metabase).not.toBeNull();
      const [, host, port, database, user, password, schema] = metabase!;
      expect({ host, port }).toEqual({ host: '127.0.0.1', port: embeddedEnv.EMBEDDED_PG_PORT });
      const viaMetabaseDetails = new pg.Client({ host, port: Number(port), database, user, password });
      await viaMetabaseDetails.connect();
      try {
        // What an analyst would look at: the demo's archived client, through the mirror's view.
        const { rows } = await viaMetabaseDetails.query<{ active: number; archived: number }>(
          `SELECT (SELECT count(*)::int FROM ${schema}.active_clients) AS active,
                  (SELECT count(*)::int FROM ${schema}.clients WHERE archived) AS archived`,
        );
        expect(rows[0]!.active + rows[0]!.archived).toBe(clients);
        expect(rows[0]!.archived).toBeGreaterThan(0);
      } finally {
        await viaMetabaseDetails.end();
      }

      // The simulated clinic is still up too: its API answers (401 without a token).
      const api = /^ {3}Provet API \(simulated\): (\S+)/m.exec(printed);
      expect(api).not.toBeNull();
      expect((await fetch(`${api![1]}client/`)).status).toBe(401);

      child.kill('SIGINT');
      const result = await out.finished;
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/SIGINT: stopping the simulator and the embedded PostgreSQL; its data stays in /);
      expect(result.stderr).not.toMatch(/"level":[45]0/);

      // Stopped: nothing answers on the port any more.
      const probe = new pg.Client({ host, port: Number(port), database, user, connectionTimeoutMillis: 2_000 });
      await expect(probe.connect()).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 120_000);
});
