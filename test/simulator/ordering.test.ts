// `ordering` and keyset reads (`id__gt`), and the quirks that make the simulator behave like an
// installation that does not know a parameter or does not sort by id when asked for nothing.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { connect, ids, list, type Caller } from './helpers.js';

let sim: Simulator;
let call: Caller;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 400, seed: 5 }));
});
afterAll(() => sim.close());
afterEach(() => sim.setQuirks({}));

const ascending = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);

describe('ordering', () => {
  it('orders by id, -id, modified and -modified (ties by id); an unknown field is dropped', async () => {
    const byId = ids((await list(call, 'client/?ordering=id&page_size=1000')).results);
    expect(ascending(byId)).toBe(true);
    expect(ids((await list(call, 'client/?ordering=-id&page_size=1000')).results)).toEqual([...byId].reverse());
    const byModified = (await list(call, 'client/?ordering=modified&page_size=1000')).results.map((c) =>
      Date.parse(String(c.modified)),
    );
    expect(byModified.every((m, i) => i === 0 || m >= byModified[i - 1]!)).toBe(true);
    const newestFirst = (await list(call, 'client/?ordering=-modified&page_size=1000')).results.map((c) =>
      Date.parse(String(c.modified)),
    );
    expect(newestFirst.every((m, i) => i === 0 || m <= newestFirst[i - 1]!)).toBe(true);
    expect(ids((await list(call, 'client/?ordering=shoe_size&page_size=1000')).results)).toEqual(byId);
  });

  it('reads every record once by keyset: id__gt the last id of the page before, with count the rest', async () => {
    const all = ids((await list(call, 'patient/?page_size=1000')).results);
    const read: number[] = [];
    let cursor: number | null = null;
    for (let i = 0; i < 100; i++) {
      const page = await list(call, `patient/?ordering=id&page_size=50${cursor === null ? '' : `&id__gt=${cursor}`}`);
      expect(page.count).toBe(all.length - read.length);
      read.push(...ids(page.results));
      if (page.next === null) break;
      cursor = read[read.length - 1]!;
    }
    expect(read).toEqual(all);
  });

  it('combines id__gt with other filters and with id__gte, the tighter bound winning', async () => {
    const archived = ids((await list(call, 'client/?archived__is=true&page_size=1000')).results);
    const cursor = archived[3]!;
    const rest = await list(call, `client/?archived__is=true&id__gt=${cursor}&page_size=1000`);
    expect(ids(rest.results)).toEqual(archived.slice(4));
    const both = await list(call, `client/?id__gt=${cursor}&id__gte=${cursor + 50}&page_size=1000`);
    expect(Math.min(...ids(both.results))).toBeGreaterThanOrEqual(cursor + 50);
  });
});

describe('quirks', () => {
  it('drops an ignored parameter unread: id__gt returns the first page again, the link keeps it', async () => {
    sim.setQuirks({ ignoredParameters: ['id__gt'] });
    const first = await list(call, 'client/?ordering=id&page_size=50');
    const again = await list(call, `client/?ordering=id&page_size=50&id__gt=${ids(first.results)[49]}`);
    expect(ids(again.results)).toEqual(ids(first.results));
    expect(again.next).toContain('id__gt=');
  });

  it('sends a list in its default order when ordering is ignored', async () => {
    sim.setQuirks({ ignoredParameters: ['ordering'], defaultOrdering: '-id' });
    const page = ids((await list(call, 'client/?ordering=id&page_size=1000')).results);
    expect(page).toEqual([...page].sort((a, b) => b - a));
  });

  it('ignores client__in on phonenumber/ like any unknown filter: the whole list comes back', async () => {
    const one = await list(call, 'phonenumber/?client__in=[1,2]&page_size=1000');
    sim.setQuirks({ ignoredParameters: ['client__in'] });
    const whole = await list(call, 'phonenumber/?client__in=[1,2]&page_size=1000');
    expect(whole.count).toBeGreaterThan(one.count);
    expect(whole.count).toBe((await list(call, 'phonenumber/?page_size=1')).count);
  });

  it('refuses quirks that make no sense, in-process and over the admin route', async () => {
    expect(() => sim.setQuirks({ ignoredParameters: ['page'] })).toThrow(/pagination/);
    expect(() => sim.setQuirks({ defaultOrdering: 'shoe_size' })).toThrow(/defaultOrdering/);
    const res = await fetch(`${sim.adminUrl}quirks`, {
      method: 'POST',
      body: JSON.stringify({ defaultOrdering: 'x' }),
    });
    expect(res.status).toBe(400);
    const ok = await fetch(`${sim.adminUrl}quirks`, {
      method: 'POST',
      body: JSON.stringify({ ignoredParameters: ['id__gt'] }),
    });
    expect(ok.status).toBe(200);
    const first = await list(call, 'client/?page_size=10');
    expect(ids((await list(call, `client/?page_size=10&id__gt=${ids(first.results)[9]}`)).results)).toEqual(
      ids(first.results),
    );
  });
});
