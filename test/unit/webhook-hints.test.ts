// Webhook bodies, the secret comparison, the hint queue's dedupe, batching and retry rules, the
// per-minute re-fetch cap, and the run gate that puts scheduled runs before webhook batches.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HintQueue, RefetchCap, type RefetchResult } from '../../src/daemon/hints.js';
import { RunGate, STOPPED_BEFORE_TURN } from '../../src/daemon/run-gate.js';
import { BadWebhookBodyError, parseHints, secretMatches } from '../../src/daemon/webhook.js';
import { createLogger } from '../../src/log.js';
import type { RecordIds } from '../../src/sync/refetch.js';

describe('parseHints', () => {
  it('reads client_id and patient_id from form and JSON bodies', () => {
    expect(parseHints('application/x-www-form-urlencoded', 'client_id=123')).toEqual([{ kind: 'client', id: 123 }]);
    expect(parseHints('application/json; charset=utf-8', '{"patient_id": 456}')).toEqual([
      { kind: 'patient', id: 456 },
    ]);
    expect(parseHints(undefined, '{"client_id":"7","patient_id":8}')).toEqual([
      { kind: 'client', id: 7 },
      { kind: 'patient', id: 8 },
    ]);
  });

  it('ignores other triggers and refuses ids that are not ids', () => {
    expect(parseHints('application/x-www-form-urlencoded', 'invoice_id=5')).toEqual([]);
    for (const body of [
      'client_id=0',
      'client_id=-1',
      'client_id=1e3',
      'client_id=12%3B%20DROP',
      'client_id=99999999999999999',
    ]) {
      expect(() => parseHints('application/x-www-form-urlencoded', body), body).toThrow(BadWebhookBodyError);
    }
    expect(() => parseHints('application/json', '[1]')).toThrow(BadWebhookBodyError);
    expect(() => parseHints('application/json', '{')).toThrow(BadWebhookBodyError);
    expect(() => parseHints('text/xml', '<a/>')).toThrow(BadWebhookBodyError);
  });
});

describe('secretMatches', () => {
  it('matches only the exact secret, whatever the lengths', () => {
    expect(secretMatches('s3cret-value', 's3cret-value')).toBe(true);
    expect(secretMatches('s3cret-valu', 's3cret-value')).toBe(false);
    expect(secretMatches('', 's3cret-value')).toBe(false);
    expect(secretMatches('s3cret-value-and-more', 's3cret-value')).toBe(false);
  });
});

function queue(results: RefetchResult[], overrides: Partial<ConstructorParameters<typeof HintQueue>[0]> = {}) {
  const calls: RecordIds[] = [];
  const q = new HintQueue({
    debounceMs: 20,
    retryMs: 20,
    maxQueued: 3,
    maxPerRun: 2,
    maxTries: 2,
    logger: createLogger('silent'),
    refetch: (ids) => {
      calls.push(ids);
      return Promise.resolve(results.shift() ?? 'done');
    },
    ...overrides,
  });
  return { q, calls };
}

const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

describe('HintQueue', () => {
  it('deduplicates, batches up to maxPerRun and refuses beyond maxQueued', async () => {
    const { q, calls } = queue([]);
    expect(q.add({ kind: 'client', id: 1 })).toBe(true);
    expect(q.add({ kind: 'client', id: 1 })).toBe(true);
    expect(q.add({ kind: 'patient', id: 1 })).toBe(true);
    expect(q.add({ kind: 'client', id: 2 })).toBe(true);
    expect(q.add({ kind: 'client', id: 3 })).toBe(false);
    expect(q.size).toBe(3);
    await settle();
    expect(calls).toEqual([
      { clients: [1], patients: [1] },
      { clients: [2], patients: [] },
    ]);
    expect(q.size).toBe(0);
    await q.stop();
  });

  it('keeps a batch while the lock is busy, drops it after maxTries failures', async () => {
    const { q, calls } = queue(['locked', 'locked', 'done']);
    q.add({ kind: 'client', id: 9 });
    await settle();
    expect(calls).toHaveLength(3);
    expect(q.size).toBe(0);

    const failing = queue(['failed', 'failed', 'failed']);
    failing.q.add({ kind: 'patient', id: 4 });
    await settle();
    expect(failing.calls).toHaveLength(2);
    expect(failing.q.size).toBe(0);
    await q.stop();
    await failing.q.stop();
  });

  it('accepts nothing after stop', async () => {
    const { q, calls } = queue([]);
    await q.stop();
    expect(q.add({ kind: 'client', id: 1 })).toBe(false);
    await settle(60);
    expect(calls).toHaveLength(0);
  });
});

describe('RefetchCap', () => {
  function capWithClock(perMinute: number) {
    const clock = { now: 0 };
    return { cap: new RefetchCap(perMinute, () => clock.now), clock };
  }

  it('counts a batch from its start until a minute after its end', () => {
    const { cap, clock } = capWithClock(10);
    expect(cap.available()).toBe(10);
    const end = cap.take(6);
    expect(cap.available()).toBe(4);
    clock.now = 90_000; // a long batch: still counted while it runs
    expect(cap.available()).toBe(4);
    end(6);
    clock.now = 149_999;
    expect(cap.available()).toBe(4);
    expect(cap.msUntilAvailable()).toBe(0);
    clock.now = 150_000;
    expect(cap.available()).toBe(10);
  });

  it('says how long until the oldest ended batches free enough, and null while only batches in flight hold it', () => {
    const { cap, clock } = capWithClock(5);
    cap.take(2)(2);
    clock.now = 10_000;
    cap.take(3)(3);
    expect(cap.available()).toBe(0);
    clock.now = 20_000;
    expect(cap.msUntilAvailable()).toBe(40_000);
    clock.now = 60_000;
    expect(cap.available()).toBe(2);

    const busy = capWithClock(4);
    const end = busy.cap.take(4);
    expect(busy.cap.msUntilAvailable()).toBeNull();
    end(4);
    expect(busy.cap.msUntilAvailable()).toBe(60_000);
  });

  it('gives back what a batch did not spend, once', () => {
    const { cap } = capWithClock(5);
    const end = cap.take(5);
    end(0);
    end(5);
    expect(cap.available()).toBe(5);
    cap.take(3)(1);
    expect(cap.available()).toBe(4);
  });

  it('refuses a cap below one', () => {
    expect(() => new RefetchCap(0)).toThrow(RangeError);
  });
});

/** A promise and its resolver, to hold a run open as long as a test needs. */
function held<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RunGate', () => {
  it('lets a scheduled run wait for the webhook batch in progress, and no new batch start meanwhile', async () => {
    const gate = new RunGate();
    const order: string[] = [];
    const batch = held();
    const first = gate.tryWebhook(async () => {
      order.push('batch 1');
      await batch.promise;
    });
    expect(first).not.toBeNull();
    const poll = gate.scheduled('poll', () => {
      order.push('poll');
      return Promise.resolve({ status: 'succeeded' });
    });
    expect(gate.scheduledWaiting).toBe(1);
    expect(gate.tryWebhook(() => Promise.resolve(order.push('batch 2')))).toBeNull();
    let freed = false;
    const free = gate.whenFree().then(() => (freed = true));
    batch.resolve();
    await first;
    expect(await poll).toEqual({ status: 'succeeded' });
    await free;
    expect(freed).toBe(true);
    expect(order).toEqual(['batch 1', 'poll']);
    expect(gate.running).toBeNull();
    expect(await gate.tryWebhook(() => Promise.resolve('batch 3'))).toBe('batch 3');
  });

  it('hands the turn from one scheduled run to the next before any webhook batch', async () => {
    const gate = new RunGate();
    const order: string[] = [];
    const reconcile = held();
    const first = gate.scheduled('reconcile', async () => {
      order.push('reconcile');
      await reconcile.promise;
      return { status: 'succeeded' };
    });
    const poll = gate.scheduled('poll', () => {
      order.push('poll');
      return Promise.resolve({ status: 'succeeded' });
    });
    void gate.whenFree().then(() => {
      // The first moment a batch may start: both scheduled runs are done by then.
      order.push('free');
    });
    reconcile.resolve();
    await Promise.all([first, poll]);
    await gate.whenFree();
    expect(order).toEqual(['reconcile', 'poll', 'free']);
  });

  it('skips a scheduled run whose turn comes after the stop signal, and frees the turn after a failure', async () => {
    const gate = new RunGate();
    const stop = new AbortController();
    const batch = held();
    const running = gate.tryWebhook(() => batch.promise);
    const ran: string[] = [];
    const poll = gate.scheduled(
      'poll',
      () => {
        ran.push('poll');
        return Promise.resolve({ status: 'succeeded' });
      },
      stop.signal,
    );
    stop.abort();
    batch.resolve();
    await running;
    expect(await poll).toBe(STOPPED_BEFORE_TURN);
    expect(ran).toEqual([]);

    await expect(gate.scheduled('reconcile', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    const thrown = gate.tryWebhook(() => {
      throw new Error('sync throw');
    });
    await expect(thrown).rejects.toThrow('sync throw');
    expect(gate.running).toBeNull();
  });
});

describe('HintQueue with the cap and the gate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function capped(perMinute: number, gate?: RunGate) {
    const calls: RecordIds[] = [];
    const counted = { deferred: 0, refetched: 0 };
    const q = new HintQueue({
      debounceMs: 10,
      retryMs: 10,
      maxQueued: 100,
      maxPerRun: 2,
      maxTries: 2,
      logger: createLogger('silent'),
      cap: new RefetchCap(perMinute, () => Date.now()),
      ...(gate ? { gate } : {}),
      onDeferred: (n) => (counted.deferred += n),
      onRefetched: (n) => (counted.refetched += n),
      refetch: (ids) => {
        calls.push(ids);
        return Promise.resolve('done');
      },
    });
    return { q, calls, counted };
  }

  it('keeps hints beyond the cap queued and counted as deferred once, until the minute frees them', async () => {
    vi.useFakeTimers();
    const { q, calls, counted } = capped(3);
    for (const id of [1, 2, 3, 4, 5]) q.add({ kind: 'client', id });
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toEqual([
      { clients: [1, 2], patients: [] },
      { clients: [3], patients: [] },
    ]);
    expect(q.size).toBe(2);
    expect(counted).toEqual({ deferred: 2, refetched: 3 });
    // More hints for waiting records are deduplicated and not counted again; a new one is.
    q.add({ kind: 'client', id: 4 });
    q.add({ kind: 'patient', id: 6 });
    expect(counted.deferred).toBe(3);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls.slice(2)).toEqual([
      { clients: [4, 5], patients: [] },
      { clients: [], patients: [6] },
    ]);
    expect(q.size).toBe(0);
    expect(counted).toEqual({ deferred: 3, refetched: 6 });
    await q.stop();
  });

  it('starts no batch while a scheduled run waits or runs, and resumes when it ends', async () => {
    vi.useFakeTimers();
    const gate = new RunGate();
    const { q, calls } = capped(100, gate);
    const poll = held();
    const scheduled = gate.scheduled('poll', () => poll.promise);
    for (const id of [1, 2, 3]) q.add({ kind: 'patient', id });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(0);
    expect(q.size).toBe(3);
    poll.resolve();
    await scheduled;
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([
      { clients: [], patients: [1, 2] },
      { clients: [], patients: [3] },
    ]);
    await q.stop();
  });
});
