// The two bounds of the backfill scenario, measured in the same run as the sync:
// (a) fetching every page the sync reads, at the sync's concurrency (one request in flight),
//     and discarding it: what the API side alone costs;
// (b) COPY of the rows the sync wrote into empty copies of the same tables (same indexes):
//     what the database side alone costs.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { Pool } from 'undici';

export interface FetchBound {
  ms: number;
  pages: number;
  records: number;
  bytes: number;
}

async function bearer(baseUrl: string, clientId: string, clientSecret: string): Promise<string> {
  const res = await fetch(baseUrl.replace(/api\/0\.1\/$/, 'oauth2/token/'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
    }).toString(),
  });
  if (!res.ok) throw new Error(`token request answered ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Reads every page of client/ and patient/ at page_size 1000, one request at a time, bodies discarded. */
export async function measureFetchBound(baseUrl: string, clientId: string, clientSecret: string): Promise<FetchBound> {
  const url = new URL(baseUrl);
  const pool = new Pool(url.origin, { connections: 1 });
  const headers = {
    authorization: `Bearer ${await bearer(baseUrl, clientId, clientSecret)}`,
    accept: 'application/json',
  };
  const total: FetchBound = { ms: 0, pages: 0, records: 0, bytes: 0 };
  try {
    const started = performance.now();
    for (const resource of ['custom_fields/', 'codelist/species/', 'codelist/breeds/', 'client/', 'patient/']) {
      let path: string | null = `${url.pathname}${resource}?page_size=1000`;
      while (path !== null) {
        const res = await pool.request({ path, method: 'GET', headers });
        if (res.statusCode !== 200) throw new Error(`${path}: HTTP ${res.statusCode}`);
        const chunks: Buffer[] = [];
        for await (const chunk of res.body) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        total.bytes += body.length;
        total.pages++;
        // Only the page count and the next link are needed; the first bytes hold them.
        const head = body.subarray(0, 400).toString('utf8');
        const count = /"count":\s*(\d+)/.exec(head)?.[1];
        if (path.includes('page_size') && !path.includes('page=')) total.records += Number(count ?? 0);
        const next = /"next":\s*"([^"]+)"/.exec(head)?.[1];
        path = next ? new URL(next).pathname + new URL(next).search : null;
      }
    }
    total.ms = performance.now() - started;
  } finally {
    await pool.close();
  }
  return total;
}

const MIRROR_TABLES = ['clients', 'patients', 'phone_numbers', 'custom_field_values'] as const;

export interface CopyBound {
  ms: number;
  rows: number;
  bytes: number;
}

/**
 * Copies the rows of `fromSchema`'s mirrored tables out (not timed), then COPYs them into empty
 * copies of those tables (LIKE ... INCLUDING ALL: same columns, defaults and indexes), timed.
 */
export async function measureCopyBound(pool: pg.Pool, fromSchema: string, intoSchema: string): Promise<CopyBound> {
  const client = await pool.connect();
  const result: CopyBound = { ms: 0, rows: 0, bytes: 0 };
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${intoSchema} CASCADE; CREATE SCHEMA ${intoSchema}`);
    for (const table of MIRROR_TABLES) {
      await client.query(`CREATE TABLE ${intoSchema}.${table} (LIKE ${fromSchema}.${table} INCLUDING ALL)`);
      const chunks: Buffer[] = [];
      const out = client.query(copyTo(`COPY ${fromSchema}.${table} TO STDOUT`));
      for await (const chunk of out) chunks.push(chunk as Buffer);
      result.bytes += chunks.reduce((n, c) => n + c.length, 0);
      const started = performance.now();
      await client.query('BEGIN');
      const into = client.query(copyFrom(`COPY ${intoSchema}.${table} FROM STDIN`));
      await pipeline(Readable.from(chunks), into);
      await client.query('COMMIT');
      result.ms += performance.now() - started;
      result.rows += into.rowCount ?? 0;
    }
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${intoSchema} CASCADE`).catch(() => {});
    client.release();
  }
  return result;
}
