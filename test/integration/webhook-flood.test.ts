// Webhooks cannot starve the schedule. The real daemon process, the simulator over HTTP and a
// real PostgreSQL: a minute of webhook hints, hundreds a second, while the daemon polls and
// reconciles every minute. Every scheduled run that falls due during the flood still lands within
// its interval (before the next tick), and the flood's re-fetches, as the simulator receives
// them, never exceed the cap in any minute. Slow by nature (about 65 s): the property is about a
// one-minute schedule under a one-minute flood.
//
// The single-record endpoints answer after 150 ms here, so a batch of 50 holds the run lock for
// several seconds and the cap's 300 re-fetches keep it busy most of each minute: without the
// daemon's run gate a tick would most likely find the lock taken and be skipped.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, sample, startDaemon, type DaemonProcess } from '../support/daemon-process.js';

const SECRET = 'wh-flood-secret-0123456789abcdef';
const CAP = 300;
const FLOOD_MS = 60_000;
const HINTS_PER_SECOND = 250;
const SENDERS = 16;
const MINUTE = 60_000;
const PER_RECORD = ['GET client/<id>/', 'GET patient/<id>/'];

let sim: Simulator;
let testDb: TestDatabase;
let daemon: DaemonProcess;
let db: pg.Pool;
let afterFirstRun = 0;

beforeAll(async () => {
  sim = await startSimulator({ clients: 150, seed: 44 });
  for (const endpoint of PER_RECORD) sim.setFaults(endpoint, { latencyMs: 150 });
  testDb = await createTestDatabase();
  db = new pg.Pool({ connectionString: testDb.url, options: '-c search_path=provet', max: 2 });
  db.on('error', () => {});
  daemon = await startDaemon({
    PROVET_BASE_URL: sim.baseUrl,
    PROVET_CLIENT_ID: sim.clientId,
    PROVET_CLIENT_SECRET: sim.clientSecret,
    DATABASE_URL: testDb.url,
    DATABASE_CONNECT_DEADLINE_SECONDS: '5',
    SYNC_SCHEDULE: '* * * * *',
    RECONCILE_SCHEDULE: '* * * * *',
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_DEBOUNCE_SECONDS: '0.2',
    WEBHOOK_MAX_REFETCHES_PER_MINUTE: String(CAP),
  });
  await eventually(async () => (await fetch(`${daemon.url}/readyz`)).status === 200, 30_000, 'the first run to land');
  // A minute's tick can fall during the run at start (the daemon started just before a minute
  // boundary) and is skipped then, flood or not: what counts is the log after the first run.
  afterFirstRun = daemon.output().length;
});

afterAll(async () => {
  const code = await daemon?.stop();
  await db?.end();
  await testDb?.drop();
  await sim?.close();
  expect(code).toBe(0);
});

/** A small seeded generator, so every run of the test sends the same hints. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Sends hints at about `perSecond` from SENDERS loops until `until`; bounded by count as well. */
async function flood(until: number, perSecond: number): Promise<{ sent: number; answers: Map<string, number> }> {
  const state = sim.exportState();
  const hints = [
    ...state.clients.map((c) => ({ kind: 'client', id: c.id as number })),
    ...state.patients.map((p) => ({ kind: 'patient', id: p.id as number })),
  ];
  const random = lcg(7);
  const answers = new Map<string, number>();
  const maxPerSender = Math.ceil(((perSecond / SENDERS) * FLOOD_MS) / 1000);
  const interval = (1000 * SENDERS) / perSecond;
  let sent = 0;
  const sender = async (offset: number) => {
    let next = Date.now() + offset;
    for (let i = 0; i < maxPerSender && Date.now() < until; i++) {
      const hint = hints[Math.floor(random() * hints.length)]!;
      const json = random() < 0.5;
      const res = await fetch(`${daemon.url}/webhooks/provet/${SECRET}`, {
        method: 'POST',
        body: json ? JSON.stringify({ [`${hint.kind}_id`]: hint.id }) : `${hint.kind}_id=${hint.id}`,
        headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
      });
      const key = `${res.status} ${await res.text()}`.trim();
      answers.set(key, (answers.get(key) ?? 0) + 1);
      sent++;
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, (_, i) => sender((i * interval) / SENDERS)));
  return { sent, answers };
}

const perRecordRequests = () => PER_RECORD.reduce((n, endpoint) => n + (sim.requestCounts()[endpoint] ?? 0), 0);

interface Run {
  id: string;
  kind: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
}

describe('a webhook flood', () => {
  it(
    'leaves every scheduled run landing within its interval, and the re-fetches under the cap',
    { timeout: 150_000 },
    async () => {
      // What the simulator has received, sampled: any two samples at most a minute apart bound a
      // window that holds no more re-fetches than any rolling minute does.
      const samples: { at: number; count: number }[] = [{ at: Date.now(), count: perRecordRequests() }];
      const sampler = setInterval(() => samples.push({ at: Date.now(), count: perRecordRequests() }), 250);
      const floodStart = Date.now();
      const floodEnd = floodStart + FLOOD_MS;
      let result: Awaited<ReturnType<typeof flood>>;
      try {
        result = await flood(floodEnd, HINTS_PER_SECOND);
      } finally {
        clearInterval(sampler);
      }
      samples.push({ at: Date.now(), count: perRecordRequests() });
      const floodSeconds = (Date.now() - floodStart) / 1000;

      // Hundreds a second (250 asked; the floor only guards against a flood too weak to mean
      // anything on a busy machine), each answered at once and queued (deduplicated; none refused).
      expect(result.sent / floodSeconds).toBeGreaterThan(100);
      expect([...result.answers.keys()]).toEqual(['200 {"queued":1}']);

      // Every tick that fell due during the flood: its poll and its reconcile started at the tick
      // or after, and landed before the next one.
      const ticks: number[] = [];
      for (let t = Math.ceil(floodStart / MINUTE) * MINUTE; t <= floodEnd; t += MINUTE) ticks.push(t);
      expect(ticks.length).toBeGreaterThanOrEqual(1);
      for (const tick of ticks) {
        for (const kinds of [['incremental', 'full'], ['reconcile']]) {
          const landed = await eventually(
            async () => {
              const runs = await db.query<Run>(
                `SELECT id, kind, status, started_at, finished_at FROM sync_runs
                WHERE kind = ANY($1) AND started_at >= $2 AND started_at < $3 ORDER BY id`,
                [kinds, new Date(tick), new Date(tick + MINUTE)],
              );
              const run = runs.rows[0];
              return run?.finished_at ? run : null;
            },
            Math.max(1_000, tick + MINUTE - Date.now()),
            `the ${kinds[0]} run of the ${new Date(tick).toISOString()} tick to land`,
          );
          expect(landed.status, `${landed.kind} run ${landed.id}`).toBe('succeeded');
          expect(
            landed.finished_at!.getTime(),
            `${landed.kind} run ${landed.id} landed within its interval`,
          ).toBeLessThan(tick + MINUTE);
        }
      }
      expect(daemon.output().slice(afterFirstRun)).not.toMatch(
        /skipping this tick|skipped this tick|reconcile (and purge )?skipped/,
      );

      // The flood kept the webhook runs going: they landed before and after the tick.
      const webhookRuns = await db.query<Run>(
        `SELECT id, kind, status, started_at, finished_at FROM sync_runs WHERE kind = 'webhook' AND started_at >= $1 ORDER BY id`,
        [new Date(floodStart)],
      );
      expect(webhookRuns.rows.length).toBeGreaterThan(3);
      expect(webhookRuns.rows.every((r) => r.status === 'succeeded' || r.status === 'running')).toBe(true);

      // No minute saw more re-fetches than the cap.
      let busiest = 0;
      for (let i = 0; i < samples.length; i++) {
        for (let j = i + 1; j < samples.length && samples[j]!.at - samples[i]!.at <= MINUTE; j++) {
          busiest = Math.max(busiest, samples[j]!.count - samples[i]!.count);
        }
      }
      expect(busiest).toBeGreaterThan(CAP / 2);
      expect(busiest).toBeLessThanOrEqual(CAP);

      // /metrics shows the cap, the re-fetches and the hints the cap held back; labels carry no ids.
      const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
      expect(sample(metrics, 'provet_sync_webhook_refetch_cap_per_minute')).toBe(CAP);
      const refetched = sample(metrics, 'provet_sync_webhook_refetches_total');
      expect(refetched).toBeGreaterThan(0);
      expect(refetched).toBeLessThanOrEqual(perRecordRequests());
      expect(sample(metrics, 'provet_sync_webhook_hints_deferred_total')).toBeGreaterThan(0);
      expect(sample(metrics, 'provet_sync_webhook_hints_total', { result: 'queued' })).toBe(result.sent);
      expect(metrics).not.toMatch(/provet_sync_webhook_[a-z_]*\{[^}]*\d{2,}/);
    },
  );
});
