// Two pages of one stream land at once (sync/stream.ts), each in its own transaction. Offset
// pagination can put one record on both; whichever commits first, the newer version must be what
// stays, and neither page may lose or reject anything for it. Here the first page's transaction is
// held open until the second is seen waiting on the same row, so the second meets the unique
// violation (both took the record for new) and must write its page again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeLease } from '../../src/db/run-lock.js';
import { startRun } from '../../src/db/runs.js';
import { writeClients } from '../../src/sync/clients.js';

import { landPage } from '../../src/sync/land.js';
import { mapClient, type ClientRow } from '../../src/sync/rows.js';
import { rawText } from '../../src/sync/storable-json.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let ctx: { pool: Harness['db']['pool']; runId: number; failpoint: () => void; providerStartedAt: Date | null };

function client(id: number, lastname: string, modified: string, phoneIds: number[] = [id * 10]): ClientRow {
  const phones = phoneIds.map((phoneId) => ({ id: phoneId, number: `+35840${phoneId}`, type_code: 1 }));
  const mapped = mapClient({
    id,
    firstname: 'Ada',
    lastname,
    modified,
    archived: false,
    phone_numbers: phones,
    fields_rel: [],
  });
  if (!mapped.ok) throw new Error(mapped.reject.reason);
  return mapped.row;
}

async function waitForBlockedWriter(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await h.db.pool.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.datname = current_database()`,
    );
    if (rows[0]!.waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the second page never waited on the first');
}

/** Lands `first` with its transaction held open until the second page waits on it, then both finish. */
async function landOverlapping(first: ClientRow[], second: ClientRow[]) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const describe = (row: ClientRow) => ({ recordId: String(row.id), payload: rawText(row.rawJson) });
  const a = landPage(ctx, {
    stream: 'clients',
    rows: first,
    rejects: [],
    describe,
    write: async (db, rows) => {
      const n = await writeClients(db, rows, ctx, false);
      wrote();
      await held;
      return n;
    },
  });
  await written;
  const b = landPage(ctx, {
    stream: 'clients',
    rows: second,
    rejects: [],
    describe,
    write: (db, rows) => writeClients(db, rows, ctx, false),
  });
  try {
    await waitForBlockedWriter();
  } finally {
    release();
  }
  return Promise.all([a, b]);
}

beforeAll(async () => {
  h = await startHarness({ simulator: { clients: 5, seed: 4 } });
  const runId = await startRun(h.db.pool, 'full');
  await takeLease(h.db.pool, runId);
  ctx = { pool: h.db.pool, runId, failpoint: () => {}, providerStartedAt: null };
});

afterAll(async () => {
  await h?.close();
});

describe('two pages in flight holding the same new record', () => {
  it('keeps the newer version when the older page commits first, and rejects nothing', async () => {
    const [a, b] = await landOverlapping(
      [
        client(900_001, 'Older', '2026-01-01T10:00:00.000000+00:00'),
        client(900_002, 'Only on the first page', '2026-01-01T10:00:00.000000+00:00'),
      ],
      [
        client(900_001, 'Newer', '2026-01-01T10:00:01.000000+00:00'),
        client(900_003, 'Only on the second page', '2026-01-01T10:00:00.000000+00:00'),
      ],
    );
    expect([a.rejects, b.rejects]).toEqual([[], []]);
    expect([a.written, b.written]).toEqual([2, 2]);
    const { rows } = await h.db.pool.query(
      `SELECT id, lastname FROM clients WHERE id BETWEEN 900001 AND 900003 ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: '900001', lastname: 'Newer' },
      { id: '900002', lastname: 'Only on the first page' },
      { id: '900003', lastname: 'Only on the second page' },
    ]);
    const phones = await h.db.pool.query(
      `SELECT id, client_id FROM phone_numbers WHERE client_id BETWEEN 900001 AND 900003 ORDER BY id`,
    );
    expect(phones.rows).toEqual([
      { id: '9000010', client_id: '900001' },
      { id: '9000020', client_id: '900002' },
      { id: '9000030', client_id: '900003' },
    ]);
  });

  it('replaces the phone numbers of a record the other page inserted meanwhile (the merge saw no previous row)', async () => {
    // The second page holds a record the mirror knows, so it merges instead of COPYing; its merge
    // waits for the first page's insert of 900021 and then updates it.
    const known = await landPage(ctx, {
      stream: 'clients',
      rows: [client(900_020, 'Known', '2026-01-01T09:00:00.000000+00:00')],
      rejects: [],
      describe: (row) => ({ recordId: String(row.id), payload: rawText(row.rawJson) }),
      write: (db, rows) => writeClients(db, rows, ctx, false),
    });
    expect(known.written).toBe(1);
    const [a, b] = await landOverlapping(
      [client(900_021, 'Older', '2026-01-01T10:00:00.000000+00:00', [9_000_211, 9_000_212])],
      [
        client(900_021, 'Newer', '2026-01-01T10:00:01.000000+00:00', [9_000_211]),
        client(900_020, 'Known, edited', '2026-01-01T10:00:00.000000+00:00'),
      ],
    );
    expect([a.rejects, b.rejects]).toEqual([[], []]);
    const phones = await h.db.pool.query(`SELECT id FROM phone_numbers WHERE client_id = 900021 ORDER BY id`);
    expect(phones.rows).toEqual([{ id: '9000211' }]);
  });

  it('keeps the newer version when it commits first: the older page writes nothing for it', async () => {
    const [a, b] = await landOverlapping(
      [client(900_011, 'Newer', '2026-01-01T10:00:01.000000+00:00')],
      [
        client(900_011, 'Older', '2026-01-01T10:00:00.000000+00:00'),
        client(900_012, 'Second', '2026-01-01T10:00:00.000000+00:00'),
      ],
    );
    expect([a.rejects, b.rejects]).toEqual([[], []]);
    expect([a.written, b.written]).toEqual([1, 1]);
    const { rows } = await h.db.pool.query(`SELECT id, lastname FROM clients WHERE id IN (900011, 900012) ORDER BY id`);
    expect(rows).toEqual([
      { id: '900011', lastname: 'Newer' },
      { id: '900012', lastname: 'Second' },
    ]);
  });
});
