// How a run meets trouble: a busy or failing API, a bad record, a second process, a `next` link
// to another host. Each is checked over real HTTP and a real database.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tryAcquireRunLock } from '../../src/db/run-lock.js';
import { runSync } from '../../src/sync/run.js';
import { mirrorDifferences } from '../support/compare.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';
import { startRewritingProxy, type RewritingProxy } from '../support/rewriting-proxy.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    simulator: {
      clients: 200,
      seed: 11,
      rateLimit: { windowMs: 2_000, limits: { 'GET client/': 2, 'GET patient/': 3 } },
    },
    pageSize: 50,
  });
});
afterAll(async () => h?.close());
afterEach(() => {
  h.sim.setFaults('global', null);
  h.sim.setFaults('GET patient/', null);
});

describe('a busy or failing API', () => {
  it('meets 429s with Retry-After and 5xx answers and still lands everything', async () => {
    // A fresh client with a budget that ignores Provet's documented limits, so 429s do happen.
    const provet = h.newProvetClient({ rateLimits: { 'GET client/': 1000, 'GET patient/': 1000 } });
    h.sim.setFaults('GET patient/', { errorRate: 0.3 });
    h.sim.resetRequestCounts();
    try {
      const outcome = await runSync({
        pool: h.db.pool,
        schema: 'provet',
        provet,
        logger: h.logger,
        pageSize: 50,
        lookbackSeconds: 120,
      });
      expectLanded(outcome);
      const counts = h.sim.requestCounts();
      expect(counts['GET client/ 429'] ?? 0).toBeGreaterThan(0);
      expect(outcome.throttled).toBeGreaterThan(0);
      expect(outcome.streams.clients?.pages).toBeGreaterThanOrEqual(4);
      expect(outcome.streams.patients?.pages).toBeGreaterThanOrEqual(6);
      expect(await mirrorDifferences(h.db.pool, h.sim.exportState())).toEqual([]);
      const run = await h.db.pool.query('SELECT status, throttled FROM sync_runs WHERE id = $1', [outcome.runId]);
      expect(run.rows[0]).toEqual({ status: 'succeeded', throttled: outcome.throttled });
    } finally {
      await provet.close();
    }
  });

  it('fails a run against an API that keeps failing, and leaves the watermark alone', async () => {
    const before = await h.db.pool.query('SELECT stream, watermark FROM sync_state ORDER BY stream');
    h.sim.updatePatient(Number(h.sim.exportState().patients[0]!.id), { name: 'Not yet mirrored' });
    h.sim.setFaults('GET patient/', { errorRate: 1 });
    const provet = h.newProvetClient({ retryDeadlineMs: 1_500 });
    try {
      const outcome = await runSync({
        pool: h.db.pool,
        schema: 'provet',
        provet,
        logger: h.logger,
        pageSize: 50,
        lookbackSeconds: 120,
      });
      expect(outcome.status).toBe('failed');
      if (outcome.status !== 'failed') return;
      expect(outcome.error?.message).toMatch(/patient\//);
      const after = await h.db.pool.query('SELECT stream, watermark FROM sync_state ORDER BY stream');
      const patientsBefore = before.rows.find((r) => r.stream === 'patients');
      expect(after.rows.find((r) => r.stream === 'patients')).toEqual(patientsBefore);
      const run = await h.db.pool.query('SELECT status, error FROM sync_runs WHERE id = $1', [outcome.runId]);
      expect(run.rows[0].status).toBe('failed');
      expect(run.rows[0].error).toMatch(/patient\//);
    } finally {
      await provet.close();
    }
    h.sim.setFaults('GET patient/', null);
    expectLanded(await h.sync());
    expect(await mirrorDifferences(h.db.pool, h.sim.exportState())).toEqual([]);
  });
});

describe('a second process', () => {
  it('is refused before it makes any API request', async () => {
    const lock = await tryAcquireRunLock(h.db.pool, 'provet');
    expect(lock).not.toBeNull();
    try {
      h.sim.resetRequestCounts();
      const outcome = await h.sync();
      expect(outcome.status).toBe('locked');
      expect(h.sim.requestCounts()).toEqual({});
    } finally {
      await lock!.release();
    }
    expectLanded(await h.sync());
  });
});

describe('a bad record', () => {
  it('is rejected with its payload while the rest of its page lands', async () => {
    const state = h.sim.exportState();
    const [bad, good] = state.clients.slice(5, 7);
    h.sim.updateClient(Number(good!.id), { lastname: 'Landed' });
    h.sim.touchRecords('client', [Number(bad!.id)], h.sim.now());
    h.sim.setRecordRaw('client', Number(bad!.id), { ...bad, modified: 'yesterday-ish', lastname: 'Broken' });
    const outcome = await h.sync();
    expectLanded(outcome);
    expect(outcome.status).toBe('partial');
    const rejects = await h.db.pool.query(
      'SELECT stream, record_id, reason, payload FROM sync_rejects WHERE run_id = $1',
      [outcome.runId],
    );
    expect(rejects.rows).toHaveLength(1);
    expect(rejects.rows[0]).toMatchObject({ stream: 'clients', record_id: String(bad!.id) });
    expect(rejects.rows[0].reason).toMatch(/modified/);
    expect(JSON.parse(rejects.rows[0].payload as string)).toMatchObject({ lastname: 'Broken' });
    const landed = await h.db.pool.query('SELECT lastname FROM clients WHERE id = $1', [good!.id]);
    expect(landed.rows[0].lastname).toBe('Landed');
    const run = await h.db.pool.query('SELECT status, records_rejected FROM sync_runs WHERE id = $1', [outcome.runId]);
    expect(run.rows[0]).toEqual({ status: 'partial', records_rejected: 1 });
  });

  it('that the database refuses is rejected alone (row-by-row fallback)', async () => {
    const state = h.sim.exportState();
    const [bad, good] = state.patients.slice(3, 5);
    h.sim.updatePatient(Number(good!.id), { name: 'Also landed' });
    // Passes validation, but PostgreSQL has no year 0.
    h.sim.touchRecords('patient', [Number(bad!.id)], h.sim.now());
    h.sim.setRecordRaw('patient', Number(bad!.id), {
      ...bad,
      date_of_birth: '0000-01-01',
      modified: h.sim.now().toISOString(),
    });
    const outcome = await h.sync();
    expectLanded(outcome);
    expect(outcome.status).toBe('partial');
    const rejects = await h.db.pool.query(
      `SELECT record_id, reason FROM sync_rejects WHERE run_id = $1 AND stream = 'patients'`,
      [outcome.runId],
    );
    expect(rejects.rows).toEqual([
      {
        record_id: String(bad!.id),
        reason: expect.stringMatching(/database refused the record: .*out of range/) as unknown,
      },
    ]);
    const rows = await h.db.pool.query('SELECT name FROM patients WHERE id = $1', [good!.id]);
    expect(rows.rows[0].name).toBe('Also landed');
  });
});

describe('a next link to another host', () => {
  let proxy: RewritingProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    h.sim.setQuirks({});
  });

  /** A real HTTP proxy in front of the simulator that rewrites `next` to point elsewhere. */
  async function evilNextProvet() {
    proxy = await startRewritingProxy(h.sim.baseUrl, {
      rewrite: (body) => body.replace(/"next":"http:\/\/[^/]+\//g, '"next":"http://evil.example/'),
    });
    return h.newProvetClient({ baseUrl: proxy.baseUrl });
  }

  it('is never followed by a walk by id, which asks for each page itself', async () => {
    const provet = await evilNextProvet();
    try {
      const outcome = await runSync(
        { pool: h.db.pool, schema: 'provet', provet, logger: h.logger, pageSize: 50, lookbackSeconds: 120 },
        { full: true },
      );
      expectLanded(outcome);
      expect(outcome.streams.clients?.pages).toBeGreaterThan(1);
      expect(outcome.streams.clients?.fetched).toBe(h.sim.exportState().clients.length);
    } finally {
      await provet.close();
    }
  });

  it('fails a page-number walk (Provet ignoring id__gt) with a clear error and keeps the watermark', async () => {
    h.sim.setQuirks({ ignoredParameters: ['id__gt'] });
    const provet = await evilNextProvet();
    const before = await h.db.pool.query('SELECT stream, watermark FROM sync_state ORDER BY stream');
    try {
      const outcome = await runSync(
        { pool: h.db.pool, schema: 'provet', provet, logger: h.logger, pageSize: 50, lookbackSeconds: 120 },
        { full: true },
      );
      expect(outcome.status).toBe('failed');
      if (outcome.status !== 'failed') return;
      expect(outcome.error?.message).toMatch(/evil\.example/);
      // The first page by id, then page 1 again by number once id__gt showed itself ignored.
      expect(outcome.streams.clients?.pages).toBe(2);
      const after = await h.db.pool.query('SELECT stream, watermark FROM sync_state ORDER BY stream');
      expect(after.rows.filter((r) => r.stream === 'clients' || r.stream === 'patients')).toEqual(
        before.rows.filter((r) => r.stream === 'clients' || r.stream === 'patients'),
      );
    } finally {
      await provet.close();
    }
  });
});
