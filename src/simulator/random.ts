// Small deterministic random sources. Seeded data must be byte-identical for a seed, so
// nothing here may touch Math.random or the clock.

/** Mixes integers into one 32-bit hash (murmur3 finaliser steps), so record n of kind k
 * gets its own independent stream without storing anything per record. */
export function hashInts(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h ^= Math.imul((part | 0) ^ Math.floor(part / 0x100000000), 0x85ebca6b);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: fast, good enough for test data, state is one 32-bit integer. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** Index drawn from cumulative weights (the last entry is the total). */
  weighted(cumulative: readonly number[]): number {
    const total = cumulative[cumulative.length - 1] ?? 1;
    const x = this.next() * total;
    for (let i = 0; i < cumulative.length; i++) {
      if (x < (cumulative[i] ?? total)) return i;
    }
    return cumulative.length - 1;
  }
}

/** Stream for one seeded record: kinds are small integer tags, ids the record id. */
export function recordRandom(seed: number, kind: number, id: number): Random {
  return new Random(hashInts(seed, kind, id));
}
