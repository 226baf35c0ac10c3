// Webhook bodies, the secret comparison, and the hint queue's dedupe, batching and retry rules.
import { describe, expect, it } from 'vitest';
import { HintQueue, type RefetchResult } from '../../src/daemon/hints.js';
import { BadWebhookBody, parseHints, secretMatches } from '../../src/daemon/webhook.js';
import { createLogger } from '../../src/log.js';
import type { RecordIds } from '../../src/sync/refetch.js';

describe('parseHints', () => {
  it('reads client_id and patient_id from form and JSON bodies', () => {
    expect(parseHints('application/x-www-form-urlencoded', 'client_id=123')).toEqual([{ kind: 'client', id: 123 }]);
    expect(parseHints('application/json; charset=utf-8', '{"patient_id": 456}')).toEqual([{ kind: 'patient', id: 456 }]);
    expect(parseHints(undefined, '{"client_id":"7","patient_id":8}')).toEqual([
      { kind: 'client', id: 7 },
      { kind: 'patient', id: 8 },
    ]);
  });

  it('ignores other triggers and refuses ids that are not ids', () => {
    expect(parseHints('application/x-www-form-urlencoded', 'invoice_id=5')).toEqual([]);
    for (const body of ['client_id=0', 'client_id=-1', 'client_id=1e3', 'client_id=12%3B%20DROP', 'client_id=99999999999999999']) {
      expect(() => parseHints('application/x-www-form-urlencoded', body), body).toThrow(BadWebhookBody);
    }
    expect(() => parseHints('application/json', '[1]')).toThrow(BadWebhookBody);
    expect(() => parseHints('application/json', '{')).toThrow(BadWebhookBody);
    expect(() => parseHints('text/xml', '<a/>')).toThrow(BadWebhookBody);
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
