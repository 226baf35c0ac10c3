// The API misbehaving: 429 storms, 5xx bursts, dropped connections, truncated bodies, hung
// requests, oversized bodies, `next` links that loop, redirects to another host. Each run either
// lands (the transient faults) or fails with a clear error and no watermark movement; once the
// faults stop, one clean run converges.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProvetClientOptions } from '../../src/provet/client.js';
import { runSync, type RunOutcome } from '../../src/sync/run.js';
import type { Harness } from '../support/harness.js';
import { startRewritingProxy, type RewritingProxy } from '../support/rewriting-proxy.js';
import { SourceHistory, expectInvariants, startAuditedHarness } from './invariants.js';

let h: Harness;
let history: SourceHistory;

beforeAll(async () => {
  ({ h, history } = await startAuditedHarness({
    simulator: {
      clients: 300,
      seed: 81,
      rateLimit: { windowMs: 1_000, limits: { 'GET client/': 3, 'GET patient/': 3 } },
    },
    pageSize: 50,
  }));
});
afterAll(async () => h?.close());
afterEach(() => h.sim.setFaults('global', null));

async function syncWith(overrides: Partial<ProvetClientOptions>, full = false): Promise<RunOutcome> {
  const provet = h.newProvetClient(overrides);
  try {
    return await runSync(
      { pool: h.db.pool, schema: 'provet', provet, logger: h.logger, pageSize: 50, lookbackSeconds: 120 },
      { full },
    );
  } finally {
    await provet.close();
  }
}

function change(n: number, tag: string): void {
  const ids = h.sim
    .exportState()
    .clients.slice(0, n)
    .map((c) => Number(c.id));
  for (const id of ids) h.sim.updateClient(id, { remarks: tag });
  history.record('client', ids);
}

async function watermarks(): Promise<unknown[]> {
  return (
    await h.db.pool.query(
      `SELECT stream, watermark FROM sync_state WHERE stream IN ('clients', 'patients') ORDER BY stream`,
    )
  ).rows;
}

/** As the pool returns them: text in one format, so that text order is time order. */
type Watermark = { stream: string; watermark: string };

/** The run that last stored each stream's watermark (Date headers have whole seconds: two runs
 *  within one second store the same value, so the value alone cannot show a move). */
async function storedBy(): Promise<Record<string, number>> {
  const rows = (
    await h.db.pool.query<{ stream: string; run: number }>(
      `SELECT stream, last_run_id::int AS run FROM sync_state WHERE stream IN ('clients', 'patients')`,
    )
  ).rows;
  return Object.fromEntries(rows.map((r) => [r.stream, r.run]));
}

/**
 * After run `runId`, which failed in the `failing` stream: that stream's watermark is where it
 * was, and the other stream, read side by side with it, landed and stored its own.
 */
async function expectOnlyOtherStreamMoved(
  before: unknown[],
  runId: number,
  failing: 'clients' | 'patients' = 'clients',
): Promise<void> {
  const landing = failing === 'clients' ? 'patients' : 'clients';
  const find = (list: unknown[], stream: string) => (list as Watermark[]).find((w) => w.stream === stream)!;
  const after = await watermarks();
  expect(find(after, failing)).toEqual(find(before, failing));
  expect(find(after, landing).watermark >= find(before, landing).watermark).toBe(true);
  const by = await storedBy();
  expect(by[failing]).not.toBe(runId);
  expect(by[landing]).toBe(runId);
}

describe('transient faults: the run lands anyway', () => {
  it.each([
    ['a 429 storm', {}, { rateLimits: { 'GET client/': 10_000, 'GET patient/': 10_000 } }],
    ['5xx bursts', { errorRate: 0.35 }, {}],
    ['dropped connections', { dropRate: 0.3 }, {}],
    ['truncated bodies', { truncateRate: 0.3 }, {}],
  ] as const)('%s', async (_, faults, client) => {
    change(10, _);
    h.sim.setFaults('global', faults);
    h.sim.resetRequestCounts();
    const outcome = await syncWith({ ...client, retryDeadlineMs: 30_000, maxRetries: 30 }, true);
    expect(outcome.status, outcome.status === 'failed' ? outcome.error?.message : '').toBe('succeeded');
    if (outcome.status !== 'succeeded') return;
    // Real work happened under the fault: every page of a full read.
    expect(outcome.streams.clients?.pages).toBeGreaterThanOrEqual(6);
    expect(outcome.streams.patients?.pages).toBeGreaterThanOrEqual(8);
    const counts = h.sim.requestCounts();
    if (_ === 'a 429 storm') expect(counts['GET client/ 429'] ?? 0).toBeGreaterThan(0);
    else expect(outcome.requests).toBeGreaterThan(outcome.streams.clients!.pages + outcome.streams.patients!.pages + 3);
    h.sim.setFaults('global', null);
    await expectInvariants(h, history);
  });
});

describe('lasting faults: the run fails clearly and claims nothing', () => {
  it('hung requests (headers never come) time out and the run gives up in bounded time', async () => {
    change(5, 'hung');
    const before = await watermarks();
    h.sim.setFaults('GET client/', { latencyMs: 5_000 });
    const started = Date.now();
    const outcome = await syncWith({ requestTimeoutMs: 300, retryDeadlineMs: 1_500 });
    h.sim.setFaults('GET client/', null);
    expect(outcome.status).toBe('failed');
    if (outcome.status === 'failed') expect(outcome.error?.message).toMatch(/client\//);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The failing stream's watermark stays; the patient stream, read side by side, landed and moved its own.
    if (outcome.status === 'failed') await expectOnlyOtherStreamMoved(before, outcome.runId);
    await expectInvariants(h, history);
  });

  it('a body that stalls halfway times out', async () => {
    change(5, 'stalled body');
    const before = await watermarks();
    h.sim.setFaults('GET patient/', { slowBodyMs: 5_000 });
    const outcome = await syncWith({ requestTimeoutMs: 400, retryDeadlineMs: 1_500 });
    h.sim.setFaults('GET patient/', null);
    expect(outcome.status).toBe('failed');
    expect((await watermarks()).find((w) => (w as { stream: string }).stream === 'patients')).toEqual(
      before.find((w) => (w as { stream: string }).stream === 'patients'),
    );
    await expectInvariants(h, history);
  });

  it('an oversized body is cut off by the byte cap', async () => {
    change(5, 'oversized');
    const before = await watermarks();
    const outcome = await syncWith({ maxBodyBytes: 20_000 }, true);
    expect(outcome.status).toBe('failed');
    if (outcome.status === 'failed') expect(outcome.error?.message).toMatch(/byte|large|cap|limit/i);
    expect(await watermarks()).toEqual(before);
    await expectInvariants(h, history);
  });
});

describe('a misbehaving front end', () => {
  let proxy: RewritingProxy;
  let mode: 'loop' | 'redirect' = 'loop';
  let proxyOrigin = '';
  beforeAll(async () => {
    proxy = await startRewritingProxy(h.sim.baseUrl, {
      intercept: (req, res) => {
        if (mode !== 'redirect' || !req.url?.includes('/client/')) return false;
        res.writeHead(302, { Location: 'http://elsewhere.example/1234/api/0.1/client/' });
        res.end();
        return true;
      },
      // Every `next` points back at page 2 (through this proxy): a loop. Only a page-number walk
      // follows `next`, so in that mode the simulator ignores id__gt and the walk falls back to one.
      rewrite: (body) =>
        mode === 'loop'
          ? body.replace(/"next":"http:\/\/127\.0\.0\.1:\d+(\/[^"]*?)page=\d+/g, `"next":"${proxyOrigin}$1page=2`)
          : body,
    });
    proxyOrigin = new URL(proxy.baseUrl).origin;
  });
  afterAll(() => proxy.close());
  afterEach(() => h.sim.setQuirks({}));

  it.each(['loop', 'redirect'] as const)('%s: the run fails with a clear error', async (which) => {
    mode = which;
    if (which === 'loop') h.sim.setQuirks({ ignoredParameters: ['id__gt'] });
    change(5, which);
    const before = await watermarks();
    const outcome = await syncWith({ baseUrl: proxy.baseUrl }, true);
    expect(outcome.status).toBe('failed');
    if (outcome.status === 'failed')
      expect(outcome.error?.message).toMatch(
        which === 'loop' ? /next link loops back/ : /redirect to http:\/\/elsewhere\.example/,
      );
    h.sim.setQuirks({});
    // A redirect of the client list fails the client stream alone; a loop, every list.
    if (which === 'redirect' && outcome.status === 'failed') await expectOnlyOtherStreamMoved(before, outcome.runId);
    else expect(await watermarks()).toEqual(before);
    await expectInvariants(h, history);
  });
});

describe('one stream failing while the other lands', () => {
  it.each([
    ['clients', 'GET client/', 'patients'],
    ['patients', 'GET patient/', 'clients'],
  ] as const)(
    'the %s endpoint answering 5xx until the retry deadline: its watermark stays, the other stream lands and moves its own; the next run completes both',
    async (failing, endpoint, landing) => {
      // Work for both streams: clients and patients changed at the source.
      change(5, `one stream failing: ${failing}`);
      const patientIds = h.sim
        .exportState()
        .patients.slice(0, 5)
        .map((p) => Number(p.id));
      const weight = failing === 'clients' ? '41.5' : '42.5';
      for (const id of patientIds) h.sim.updatePatient(id, { weight });
      history.record('patient', patientIds);
      const before = await watermarks();

      h.sim.setFaults(endpoint, { errorRate: 1 });
      const outcome = await syncWith({ retryDeadlineMs: 1_500 });
      h.sim.setFaults(endpoint, null);

      expect(outcome.status).toBe('failed');
      if (outcome.status !== 'failed') return;
      expect(outcome.error?.message).toContain(endpoint.slice(4));
      const run = await h.db.pool.query<{ status: string; error: string }>(
        'SELECT status, error FROM sync_runs WHERE id = $1',
        [outcome.runId],
      );
      expect(run.rows[0]).toEqual({ status: 'failed', error: outcome.error?.message });
      await expectOnlyOtherStreamMoved(before, outcome.runId, failing);
      // The other stream's work landed in the failed run.
      expect(outcome.streams[landing]?.written).toBeGreaterThanOrEqual(5);
      if (landing === 'patients') {
        const weights = await h.db.pool.query<{ weight: string }>(
          'SELECT weight::text FROM patients WHERE id = ANY($1::bigint[])',
          [patientIds],
        );
        expect(weights.rows.map((r) => Number(r.weight))).toEqual(patientIds.map(() => Number(weight)));
      }

      // The next run completes both, and every invariant holds.
      const next = await syncWith({});
      expect(next.status).toBe('succeeded');
      expect((await storedBy())[failing]).toBe(next.status === 'succeeded' ? next.runId : -1);
      await expectInvariants(h, history);
    },
  );
});
