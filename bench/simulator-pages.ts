// How fast the simulator serves 1000-row pages, so that it is never the bottleneck of a sync
// benchmark; and how long a million-client simulator takes to start and how much memory it
// holds. The simulator runs in a child process (its own core), the reader here uses undici
// with keep-alive, as the product's client does.
//
//   npx tsx bench/simulator-pages.ts [--clients 100000] [--big-clients 1000000] [--skip-big] [--connections 1]
// (from the repository root: the child process loads tsx from there)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '100000' },
    'big-clients': { type: 'string', default: '1000000' },
    'skip-big': { type: 'boolean', default: false },
    connections: { type: 'string', default: '1' },
  },
});

const cliModule = fileURLToPath(new URL('../src/simulator/cli.ts', import.meta.url));

interface Running {
  child: ChildProcess;
  baseUrl: string;
  startupMs: number;
}

/** Starts `simulate` in a child process and waits for it to print its base URL. */
function startChild(args: string[]): Promise<Running> {
  const code = `import(${JSON.stringify(cliModule)}).then((m) => m.runSimulateCommand(${JSON.stringify(args)}))`;
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const base = /export PROVET_BASE_URL=(\S+)/.exec(out)?.[1];
      if (base && out.includes('Serving until'))
        resolve({ child, baseUrl: base, startupMs: performance.now() - started });
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${String(code)} before serving:\n${out}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function rssMb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function bearer(baseUrl: string): Promise<string> {
  const res = await fetch(baseUrl.replace('api/0.1/', 'oauth2/token/'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=provet-sync-demo&client_secret=demo-secret',
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

interface Totals {
  pages: number;
  records: number;
  bytes: number;
  ms: number;
  slowestMs: number;
}

/** Reads every page of a list at page_size 1000, `connections` pages in flight at a time. */
async function readAll(
  pool: Pool,
  basePath: string,
  resource: string,
  token: string,
  connections: number,
  filter = '',
): Promise<Totals> {
  const headers = { authorization: `Bearer ${token}` };
  const first = await pool.request({ path: `${basePath}${resource}?${filter}page_size=1000`, method: 'GET', headers });
  const envelope = (await first.body.json()) as { count: number; num_pages: number };
  const started = performance.now();
  let next = 1;
  let bytes = 0;
  let slowestMs = 0;
  const worker = async () => {
    while (next <= envelope.num_pages) {
      const page = next++;
      const t0 = performance.now();
      const res = await pool.request({
        path: `${basePath}${resource}?${filter}page_size=1000&page=${page}`,
        method: 'GET',
        headers,
      });
      if (res.statusCode !== 200) throw new Error(`${resource} page ${page}: ${res.statusCode}`);
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      slowestMs = Math.max(slowestMs, performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return { pages: envelope.num_pages, records: envelope.count, bytes, ms: performance.now() - started, slowestMs };
}

function report(label: string, t: Totals): void {
  const seconds = t.ms / 1000;
  console.log(
    `${label.padEnd(10)} ${String(t.pages).padStart(5)} pages ${String(t.records).padStart(8)} records in ${seconds.toFixed(2)} s: ` +
      `${(t.pages / seconds).toFixed(0)} pages/s, ${(t.records / seconds).toFixed(0)} records/s, ` +
      `${(t.bytes / 1048576 / seconds).toFixed(1)} MB/s (slowest page ${t.slowestMs.toFixed(0)} ms)`,
  );
}

async function pageSpeed(clients: number, connections: number): Promise<void> {
  const sim = await startChild(['--clients', String(clients), '--port', '0', '--no-rate-limit']);
  try {
    const url = new URL(sim.baseUrl);
    const pool = new Pool(url.origin, { connections, pipelining: 1 });
    const token = await bearer(sim.baseUrl);
    console.log(
      `simulator with ${clients} clients started in ${(sim.startupMs / 1000).toFixed(1)} s; ${connections} keep-alive connection(s)`,
    );
    // The first pass includes the JIT warming up; a long-running simulator serves like the second.
    report('clients', await readAll(pool, url.pathname, 'client/', token, connections));
    report('patients', await readAll(pool, url.pathname, 'patient/', token, connections));
    report('clients²', await readAll(pool, url.pathname, 'client/', token, connections));
    report('patients²', await readAll(pool, url.pathname, 'patient/', token, connections));
    // A sync's delta query scans the typed arrays once, then pages come from the cached result.
    report(
      'delta',
      await readAll(pool, url.pathname, 'patient/', token, connections, 'modified__gte=2024-01-01T00:00:00%2B02:00&'),
    );
    console.log(`simulator RSS after reading: ${rssMb(sim.child.pid!)?.toFixed(0) ?? 'n/a'} MB`);
    await pool.close();
  } finally {
    await stop(sim.child);
  }
}

async function bigStartup(clients: number): Promise<void> {
  const sim = await startChild(['--clients', String(clients), '--port', '0', '--no-rate-limit']);
  try {
    const url = new URL(sim.baseUrl);
    const pool = new Pool(url.origin, { connections: 1 });
    const token = await bearer(sim.baseUrl);
    const rssBefore = rssMb(sim.child.pid!);
    const t0 = performance.now();
    const res = await pool.request({
      path: `${url.pathname}client/?page_size=1000&page=900&modified__gte=2023-01-01T00:00:00%2B02:00`,
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
    });
    await res.body.text();
    const filteredMs = performance.now() - t0;
    console.log(
      `simulator with ${clients} clients: started in ${(sim.startupMs / 1000).toFixed(1)} s (process start and tsx included), ` +
        `RSS ${rssBefore?.toFixed(0) ?? 'n/a'} MB idle, ${rssMb(sim.child.pid!)?.toFixed(0) ?? 'n/a'} MB after a filtered deep page ` +
        `(first filtered page over all clients: ${filteredMs.toFixed(0)} ms)`,
    );
    await pool.close();
  } finally {
    await stop(sim.child);
  }
}

await pageSpeed(Number(values.clients), Number(values.connections));
if (!values['skip-big']) await bigStartup(Number(values['big-clients']));
