// The page slots the streams of a run share (sync/context.ts): at most `size` holders, the rest
// served in order, and a waiter that gives up (its stream stopped) leaves with nothing held, so
// that it cannot keep the other stream waiting.
import { describe, expect, it } from 'vitest';
import { Slots } from '../../src/sync/context.js';

const settled = (p: Promise<unknown>) =>
  Promise.race([
    p.then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((r) => setTimeout(() => r('pending'), 20)),
  ]);

describe('Slots', () => {
  it('lets `size` holders in at once and the next ones in order as slots come back', async () => {
    const slots = new Slots(2);
    const first = await slots.acquire();
    const second = await slots.acquire();
    const third = slots.acquire();
    const fourth = slots.acquire();
    expect(await settled(third)).toBe('pending');
    first();
    first(); // a second call gives back nothing more
    expect(await settled(third)).toBe('resolved');
    expect(await settled(fourth)).toBe('pending');
    second();
    expect(await settled(fourth)).toBe('resolved');
  });

  it('a waiter whose signal aborts rejects and holds nothing: the next waiter gets the slot', async () => {
    const slots = new Slots(1);
    const held = await slots.acquire();
    const stopped = new AbortController();
    const quitter = slots.acquire(stopped.signal);
    const patient = slots.acquire();
    stopped.abort();
    expect(await settled(quitter)).toBe('rejected');
    held();
    expect(await settled(patient)).toBe('resolved');
    await expect(slots.acquire(stopped.signal)).rejects.toThrow();
  });
});
