// Where one page's time goes, phase by phase, using the engine's own mappers and SQL: fetch,
// decoding and JSON.parse record by record, validation and mapping, the COPY text encoding, and each
// statement of the page's transaction, first for new rows, then for the same rows again
// (unchanged: the no-op path of every re-read). For the engine owner, next to the profile.
//
//   npx tsx bench/phases.ts [--clients 20000] [--pages 10]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { migrateSchema } from '../src/db/migrate.js';
import { copyPayload } from '../src/db/copy-encoding.js';
import { replaceFieldValues, replacePhoneNumbers } from '../src/db/mirror/owned-rows.js';
import { CLIENT_STAGING, PATIENT_STAGING, upsertClients, upsertPatients } from '../src/db/mirror/record-upsert.js';
import { directColumns } from '../src/db/mirror/staging.js';
import { createLogger } from '../src/log.js';
import { startSimulator } from '../src/simulator/index.js';
import { parseBody } from '../src/provet/raw-records.js';
import { collectPage } from '../src/sync/page-rows.js';
import { mapClient, mapPatient } from '../src/sync/rows.js';
import { startBenchDatabase } from './lib/postgres.js';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '20000' }, pages: { type: 'string', default: '10' } },
});
const pages = Number(values.pages);

const sim = await startSimulator({ clients: Number(values.clients), seed: 1 });
const db = await startBenchDatabase();
const schema = 'bench_phases';
await db.dropSchema(schema);
const pool = new pg.Pool({ connectionString: db.url, options: `-c search_path=${schema}`, max: 2 });
await migrateSchema(pool, schema, createLogger('silent'));
const http = new Pool(new URL(sim.baseUrl).origin, { connections: 1 });
const token = (
  (await (
    await fetch(sim.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${sim.clientId}&client_secret=${sim.clientSecret}`,
    })
  ).json()) as { access_token: string }
).access_token;

type Totals = Record<string, number>;
const add = (t: Totals, key: string, ms: number) => (t[key] = (t[key] ?? 0) + ms);
async function timed<T>(t: Totals, key: string, fn: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  const result = await fn();
  add(t, key, performance.now() - started);
  return result;
}

async function measure(resource: 'client/' | 'patient/'): Promise<Totals> {
  const t: Totals = {};
  for (let page = 2; page < pages + 2; page++) {
    // Page 1 is skipped: the first requests warm up the simulator and the JIT.
    const body = await timed(t, 'fetch (HTTP, body bytes)', async () => {
      const res = await http.request({
        path: `${new URL(sim.baseUrl).pathname}${resource}?page_size=1000&page=${page}`,
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      });
      return Buffer.from(await res.body.arrayBuffer());
    });
    const { value, sent } = await timed(t, 'decode + JSON.parse (parseBody)', () => parseBody(body));
    const records = (value as { results: unknown[] }).results;
    for (const pass of ['new rows', 'unchanged rows']) {
      const once = <T>(key: string, fn: () => T): Promise<T> | T => (pass === 'new rows' ? timed(t, key, fn) : fn());
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        if (resource === 'client/') {
          const { rows } = await once('validate + map (rows.ts)', () =>
            collectPage(records.map((record, i) => mapClient(record, sent?.[i]))),
          );
          const plain = rows.map(({ phoneNumbers: _p, fieldValues: _f, ...row }) => row);
          await once('COPY text encoding (inside upsert)', () => copyPayload(directColumns(CLIENT_STAGING), plain));
          const owned = {
            phoneNumberIds: rows.flatMap((r) => r.phoneNumbers?.map((n) => n.id) ?? []),
            fieldValueIds: rows.flatMap((r) => r.fieldValues?.map((v) => v.id) ?? []),
          };
          const { written, ownedKnown } = await timed(t, `SQL upsert clients, ${pass}`, () =>
            upsertClients(client, plain, sim.now().toISOString(), owned),
          );
          const changed = rows.filter((r) => written.some((w) => w.id === r.id));
          await timed(t, `SQL replace phone numbers, ${pass}`, () =>
            replacePhoneNumbers(
              client,
              written,
              changed.flatMap((r) => r.phoneNumbers ?? []),
              ownedKnown?.phoneNumbers ?? null,
            ),
          );
          await timed(t, `SQL replace field values, ${pass}`, () =>
            replaceFieldValues(
              client,
              'client',
              written,
              changed.flatMap((r) => r.fieldValues ?? []),
              ownedKnown?.fieldValues ?? null,
            ),
          );
        } else {
          const { rows } = await once('validate + map (rows.ts)', () =>
            collectPage(records.map((record, i) => mapPatient(record, sent?.[i]))),
          );
          const plain = rows.map(({ fieldValues: _f, ...row }) => row);
          await once('COPY text encoding (inside upsert)', () => copyPayload(directColumns(PATIENT_STAGING), plain));
          const owned = {
            phoneNumberIds: [],
            fieldValueIds: rows.flatMap((r) => r.fieldValues?.map((v) => v.id) ?? []),
          };
          const { written, ownedKnown } = await timed(t, `SQL upsert patients, ${pass}`, () =>
            upsertPatients(client, plain, sim.now().toISOString(), owned),
          );
          const changed = rows.filter((r) => written.some((w) => w.id === r.id));
          await timed(t, `SQL replace field values, ${pass}`, () =>
            replaceFieldValues(
              client,
              'patient',
              written,
              changed.flatMap((r) => r.fieldValues ?? []),
              ownedKnown?.fieldValues ?? null,
            ),
          );
        }
        await timed(t, `SQL commit, ${pass}`, () => client.query('COMMIT'));
      } finally {
        client.release();
      }
    }
  }
  for (const key of Object.keys(t)) t[key] = t[key]! / pages;
  return t;
}

try {
  for (const resource of ['client/', 'patient/'] as const) {
    const t = await measure(resource);
    console.log(`\n${resource} page of 1000, mean of ${pages} pages (ms):`);
    for (const [key, ms] of Object.entries(t)) console.log(`  ${key.padEnd(48)} ${ms.toFixed(1).padStart(7)}`);
  }
} finally {
  await http.close();
  await pool.end();
  await db.dropSchema(schema);
  await db.stop();
  await sim.close();
}
