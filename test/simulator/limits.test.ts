import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, type Simulator } from '../../src/simulator/index.js';
import { connect, type Caller } from './helpers.js';

let sim: Simulator | undefined;
afterEach(() => sim?.close());

async function limited(limits: Record<string, number>, windowMs: number): Promise<Caller> {
  const connected = await connect({ clients: 50, rateLimit: { windowMs, limits } });
  sim = connected.sim;
  return connected.call;
}

describe('rate limits', () => {
  it('default to the table in api-facts.md', () => {
    expect(DEFAULT_RATE_LIMITS).toMatchObject({
      'GET client/': 125,
      'GET client/<id>/': 500,
      'GET patient/': 300,
      'GET patient/<id>/': 1200,
      'GET phonenumber/': 900,
      'GET custom_fields/': 100,
      'GET codelist/species/': 100,
      'GET codelist/breeds/': 100,
    });
  });

  it('answers 429 with Retry-After once an endpoint’s window is spent, per endpoint', async () => {
    const call = await limited({ 'GET client/': 3 }, 60_000);
    for (let i = 0; i < 3; i++) expect((await call('GET', 'client/')).status).toBe(200);
    const throttled = await call('GET', 'client/');
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Other endpoints have their own budget; writes are not limited.
    expect((await call('GET', 'patient/')).status).toBe(200);
    expect((await call('GET', 'client/1/')).status).toBe(200);
    expect((await call('PATCH', 'client/1/', { remarks: 'x' })).status).toBe(200);
    expect(sim!.requestCounts()).toMatchObject({ 'GET client/': 3, 'GET client/ 429': 1, 'GET patient/': 1 });
  });

  it('charges a list request page_size / 50', async () => {
    const call = await limited({ 'GET patient/': 30 }, 60_000);
    // page_size=500 costs 10: three fit in 30, the fourth does not.
    for (let i = 0; i < 3; i++) expect((await call('GET', 'patient/?page_size=500')).status).toBe(200);
    expect((await call('GET', 'patient/?page_size=500')).status).toBe(429);
    expect((await call('GET', 'patient/?page_size=50')).status).toBe(429);
  });

  it('charges the clamped page size, and a small page as one request', async () => {
    const call = await limited({ 'GET client/': 25 }, 60_000);
    expect((await call('GET', 'client/?page_size=5000')).status).toBe(200); // costs 20, not 100
    for (let i = 0; i < 5; i++) expect((await call('GET', 'client/?page_size=10')).status).toBe(200);
    expect((await call('GET', 'client/?page_size=10')).status).toBe(429);
  });

  it('refills as the rolling window moves, with a compressed window', async () => {
    const call = await limited({ 'GET client/': 2 }, 1500);
    expect((await call('GET', 'client/')).status).toBe(200);
    expect((await call('GET', 'client/')).status).toBe(200);
    const throttled = await call('GET', 'client/');
    expect(throttled.status).toBe(429);
    // Real seconds until the oldest request leaves the 1.5 s window, rounded up.
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await call('GET', 'client/')).status).toBe(200);
  });

  it('are off unless asked for in-process', async () => {
    const connected = await connect({ clients: 5 });
    sim = connected.sim;
    for (let i = 0; i < 130; i++) expect((await connected.call('GET', 'client/')).status).toBe(200);
  });
});
