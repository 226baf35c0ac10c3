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
    expect(await watermarks()).toEqual(before);
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
    expect(await watermarks()).toEqual(before);
    await expectInvariants(h, history);
  });
});
