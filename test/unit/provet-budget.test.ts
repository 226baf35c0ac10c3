import { describe, expect, it } from 'vitest';
import { PROVET_RATE_LIMITS, RateBudget, endpointKey, requestCost } from '../../src/provet/budget.js';
import { backoffDelay, parseRetryAfter } from '../../src/provet/retry.js';
import { ProvetApiError } from '../../src/provet/errors.js';

/** A clock that only moves when the budget sleeps, recording every wait. */
function fakeClock(start = 1_000_000) {
  const clock = {
    t: start,
    waits: [] as number[],
    now: () => clock.t,
    sleep: (ms: number, signal?: AbortSignal): Promise<void> => {
      if (signal?.aborted) return Promise.reject(new ProvetApiError('PROVET_ABORTED', 'aborted'));
      clock.waits.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

describe('endpointKey', () => {
  it.each([
    ['client/', 'GET client/'],
    ['client/123/', 'GET client/<id>/'],
    ['/client/123', 'GET client/<id>/'],
    ['client/?page=2&page_size=500', 'GET client/'],
    ['patient/9/', 'GET patient/<id>/'],
    ['phonenumber/', 'GET phonenumber/'],
    ['client/12/custom_field_values/', 'GET custom_field_values/'],
    ['patient/7/custom_field_values/', 'GET custom_field_values/'],
    ['custom_field_values/', 'GET custom_field_values/'],
    ['codelist/species/', 'GET codelist/species/'],
    ['codelist/breeds/?page=3', 'GET codelist/breeds/'],
  ])('%s -> %s', (path, key) => {
    expect(endpointKey('get', path)).toBe(key);
  });

  it('maps every documented endpoint onto a limit', () => {
    for (const path of [
      'client/',
      'client/1/',
      'patient/',
      'patient/1/',
      'phonenumber/',
      'custom_fields/',
      'client/1/custom_field_values/',
      'codelist/species/',
      'codelist/breeds/',
    ]) {
      expect(PROVET_RATE_LIMITS[endpointKey('GET', path)]).toBeGreaterThan(0);
    }
  });
});

describe('requestCost', () => {
  it('counts a page of 50 or less as one request and larger pages proportionally', () => {
    expect(requestCost(undefined)).toBe(1);
    expect(requestCost(10)).toBe(1);
    expect(requestCost(50)).toBe(1);
    expect(requestCost(500)).toBe(10);
    expect(requestCost(1000)).toBe(20);
    expect(requestCost(75)).toBe(2);
    expect(requestCost(5000)).toBe(20); // the API clamps page_size to 1000
  });
});

describe('RateBudget', () => {
  it('lets requests through while the window has room, then waits for the oldest to expire', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({
      limits: { 'GET x/': 10 },
      windowMs: 1000,
      safetyFactor: 1,
      now: clock.now,
      sleep: clock.sleep,
    });
    for (let i = 0; i < 10; i++) {
      await budget.acquire('GET x/', 1);
      clock.t += 10;
    }
    expect(clock.waits).toEqual([]);
    const before = clock.t;
    await budget.acquire('GET x/', 1);
    // The first spend was at 1_000_000 and leaves the window at 1_001_000.
    expect(clock.t).toBeGreaterThanOrEqual(1_001_000);
    expect(clock.t - before).toBeLessThan(1000);
  });

  it('adds costs: two 500-row pages fill a budget of 20', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({
      limits: { 'GET client/': 20 },
      windowMs: 60_000,
      safetyFactor: 1,
      now: clock.now,
      sleep: clock.sleep,
    });
    await budget.acquire('GET client/', requestCost(500));
    await budget.acquire('GET client/', requestCost(500));
    expect(budget.spent('GET client/')).toBe(20);
    expect(clock.waits).toEqual([]);
    await budget.acquire('GET client/', 1);
    expect(clock.waits.length).toBeGreaterThan(0);
    expect(clock.t).toBeGreaterThanOrEqual(1_060_000);
  });

  it('keeps under the server limit by the safety factor', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({
      limits: { 'GET client/': 100 },
      safetyFactor: 0.9,
      now: clock.now,
      sleep: clock.sleep,
    });
    for (let i = 0; i < 90; i++) await budget.acquire('GET client/', 1);
    expect(clock.waits).toEqual([]);
    await budget.acquire('GET client/', 1);
    expect(clock.waits.length).toBe(1);
  });

  it('keeps endpoints apart and leaves unknown endpoints unlimited', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({ limits: { 'GET a/': 1 }, safetyFactor: 1, now: clock.now, sleep: clock.sleep });
    await budget.acquire('GET a/', 1);
    await budget.acquire('GET b/', 1);
    for (let i = 0; i < 1000; i++) await budget.acquire('GET unknown/', 1);
    expect(clock.waits).toEqual([]);
  });

  it('lets a request dearer than the whole budget through on an empty window', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({ limits: { 'GET a/': 5 }, safetyFactor: 1, now: clock.now, sleep: clock.sleep });
    await budget.acquire('GET a/', 20);
    expect(clock.waits).toEqual([]);
  });

  it('penalize blocks the endpoint until Retry-After has passed, and only that endpoint', async () => {
    const clock = fakeClock();
    const budget = new RateBudget({ now: clock.now, sleep: clock.sleep });
    budget.penalize('GET patient/', 7_000);
    await budget.acquire('GET client/', 1);
    expect(clock.waits).toEqual([]);
    await budget.acquire('GET patient/', 1);
    expect(clock.waits).toEqual([7_000]);
  });

  it('stops waiting when the signal aborts', async () => {
    const budget = new RateBudget({ limits: { 'GET a/': 1 }, safetyFactor: 1, windowMs: 60_000 });
    await budget.acquire('GET a/', 1);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await expect(budget.acquire('GET a/', 1, controller.signal)).rejects.toMatchObject({ code: 'PROVET_ABORTED' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-03-01T10:00:00Z');
  it('reads delay-seconds, integer or decimal', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
  });
  it('reads an HTTP date relative to the server clock', () => {
    expect(parseRetryAfter('Fri, 01 Mar 2024 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Fri, 01 Mar 2024 09:59:00 GMT', now)).toBe(0);
  });
  it('gives null for absent or junk values', () => {
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, stays capped, and jitters within the upper half of the step', () => {
    expect(backoffDelay(0, 100, 1000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 1000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(50, 100, 1000, () => 0.5)).toBe(750);
  });
});

describe('RateBudget.settle', () => {
  it('counts a spend from when the answer came, so a late request does not free its slot early', async () => {
    let now = 0;
    const budget = new RateBudget({
      limits: { 'GET a/': 2 },
      windowMs: 1000,
      marginMs: 0,
      now: () => now,
      sleep: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    });
    const first = await budget.acquire('GET a/', 1);
    await budget.acquire('GET a/', 1);
    // The first request waited 400 ms for a connection before the server saw it.
    now = 400;
    budget.settle('GET a/', first);
    now = 1001;
    // The second spend (at 0) has left the window, the first (settled at 400) has not.
    expect(budget.spent('GET a/')).toBe(1);
    await budget.acquire('GET a/', 1);
    expect(now).toBe(1001);
    await budget.acquire('GET a/', 1);
    expect(now).toBeGreaterThanOrEqual(1401);
  });
});
