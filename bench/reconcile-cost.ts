// The README's reconciliation cost table: budget units a reconcile spends per list endpoint, against
// a simulated clinic, in the situations the table names. Units, not time: nothing here is timed.
//
//   npx tsx bench/reconcile-cost.ts [--clients 20000]
//
// PostgreSQL: BENCH_DATABASE_URL, else an embedded server (bench/lib/postgres.ts).
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/connect.js';
import { migrateSchema } from '../src/db/migrate.js';
import { createLogger } from '../src/log.js';
import { ProvetClient } from '../src/provet/client.js';
import { startSimulator } from '../src/simulator/index.js';
import { runReconcile } from '../src/sync/reconcile.js';
import { runSync } from '../src/sync/run.js';
import { startBenchDatabase } from './lib/postgres.js';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '20000' } } });
const clients = Number(values.clients);
const logger = createLogger('silent');
const sim = await startSimulator({ clients, seed: 9 });
const bench = await startBenchDatabase();
const schema = 'reconcile_cost';
await bench.dropSchema(schema);
const db = await openDatabase(
  { url: bench.url, schema, connectDeadlineMs: 10_000, embedded: { dataDir: 'unused', dataDirChosen: true, port: 1 } },
  logger,
);
await migrateSchema(db.pool, schema, logger);
const provet = new ProvetClient({
  baseUrl: sim.baseUrl,
  auth: { kind: 'oauth', clientId: sim.clientId, clientSecret: sim.clientSecret, tokenUrl: sim.tokenUrl },
  logger,
});
const deps = { pool: db.pool, schema, provet, logger, pageSize: 1000 };

/** Budget units spent on the two list endpoints while `work` runs. */
async function units(work: () => Promise<unknown>): Promise<{ client: number; patient: number }> {
  const before = provet.stats().byEndpoint;
  await work();
  const after = provet.stats().byEndpoint;
  const spent = (key: string) => (after[key]?.costUnits ?? 0) - (before[key]?.costUnits ?? 0);
  return { client: spent('GET client/'), patient: spent('GET patient/') };
}

const rows: [string, { client: number; patient: number }][] = [];
rows.push(['sync --full', await units(() => runSync({ ...deps, lookbackSeconds: 120 }, { full: true }))]);
const patients = sim.exportState().patients.length;
rows.push(['mirror agrees', await units(() => runReconcile(deps))]);
// Clients with at least one patient, so a delete shows in both lists.
const state = sim.exportState();
const owners = new Set(state.patients.map((p) => String(p.client)));
const ids = state.clients.filter((c) => owners.has(String(c.url))).map((c) => Number(c.id));
sim.deleteClient(ids[Math.floor(ids.length / 3)]!);
rows.push(['1 client deleted (with its patients)', await units(() => runReconcile(deps))]);
for (let i = 0; i < 10; i++) sim.deleteClient(ids[Math.floor(((i + 0.5) * ids.length) / 10) + 1]!);
rows.push(['10 clients deleted, spread out', await units(() => runReconcile(deps))]);

console.log(`${clients} clients, ${patients} patients`);
console.log('| situation | `GET client/` units | `GET patient/` units |\n|---|---|---|');
for (const [situation, spent] of rows) console.log(`| ${situation} | ${spent.client} | ${spent.patient} |`);
await provet.close();
await db.close();
await bench.dropSchema(schema);
await bench.stop();
await sim.close();
