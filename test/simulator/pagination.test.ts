import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { all, connect, ids, list, type Caller } from './helpers.js';

let sim: Simulator;
let call: Caller;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 1200, seed: 3 }));
});
afterAll(() => sim.close());

describe('pagination', () => {
  it('answers the documented envelope with 50 rows by default, ordered by id', async () => {
    const page = await list(call, 'client/');
    expect(Object.keys(page)).toEqual(['count', 'num_pages', 'next', 'previous', 'results']);
    expect(page.results).toHaveLength(50);
    expect(page.num_pages).toBe(Math.ceil(page.count / 50));
    expect(page.previous).toBeNull();
    expect(page.next).toBe(`${sim.baseUrl}client/?page=2`);
    const got = ids(page.results);
    expect(got).toEqual([...got].sort((a, b) => a - b));
  });

  it('clamps page_size to 1000 and falls back to 50 for nonsense', async () => {
    const big = await list(call, 'client/?page_size=5000');
    expect(big.results).toHaveLength(1000);
    expect(big.num_pages).toBe(Math.ceil(big.count / 1000));
    for (const bad of ['0', '-5', 'abc', '2.5', '']) {
      const page = await list(call, `client/?page_size=${bad}`);
      expect(page.results, `page_size=${bad}`).toHaveLength(50);
    }
  });

  it('answers 404 "Invalid page." past the last page and for pages that are not positive integers', async () => {
    const first = await list(call, 'client/?page_size=1000');
    const last = await call('GET', `client/?page_size=1000&page=${first.num_pages}`);
    expect(last.status).toBe(200);
    for (const page of [first.num_pages + 1, 0, -1, 'abc', '1.0']) {
      const answer = await call('GET', `client/?page_size=1000&page=${page}`);
      expect(answer.status, `page=${page}`).toBe(404);
      expect(answer.body).toEqual({ detail: 'Invalid page.' });
    }
  });

  it('gives absolute next/previous links that keep the other parameters (sorted, DRF style)', async () => {
    const page2 = await list(
      call,
      'patient/?page=2&page_size=10&modified__gte=2020-01-01T00:00:00%2B02:00&archived__is=false',
    );
    expect(page2.next).toBe(
      `${sim.baseUrl}patient/?archived__is=false&modified__gte=2020-01-01T00%3A00%3A00%2B02%3A00&page=3&page_size=10`,
    );
    // The link back to page 1 drops `page` altogether, as DRF does.
    expect(page2.previous).toBe(
      `${sim.baseUrl}patient/?archived__is=false&modified__gte=2020-01-01T00%3A00%3A00%2B02%3A00&page_size=10`,
    );
    const page3 = await list(call, page2.next!);
    expect(page3.previous).toContain('page=2');
    expect(page3.results[0]!.id).toBeGreaterThan(page2.results[9]!.id);
  });

  it('reads every record exactly once by following next, and `last` names the last page', async () => {
    const rows = await all(call, 'client/?page_size=100');
    const first = await list(call, 'client/?page_size=100');
    expect(rows).toHaveLength(first.count);
    expect(new Set(ids(rows)).size).toBe(rows.length);
    const last = await list(call, 'client/?page_size=100&page=last');
    expect(last.next).toBeNull();
    expect(ids(last.results)).toEqual(ids(rows.slice((first.num_pages - 1) * 100)));
  });

  it('serves page 1 of an empty result with count 0 and one page', async () => {
    const page = await list(call, 'client/?id__gt=999999999');
    expect(page).toEqual({ count: 0, num_pages: 1, next: null, previous: null, results: [] });
  });

  it('drifts like page-number pagination does: a record that starts matching mid-read shifts later pages', async () => {
    const since = '2030-01-01T00:00:00%2B02:00';
    // Twenty records match a future watermark; read them five to a page.
    const matching = Array.from({ length: 20 }, (_, i) => 100 + i * 10);
    sim.touchRecords('client', matching, '2030-06-01T00:00:00+02:00');
    const first = await list(call, `client/?modified__gte=${since}&page_size=5`);
    expect(ids(first.results)).toEqual(matching.slice(0, 5));
    // A record with a lower id starts matching between page 1 and page 2 ...
    sim.touchRecords('client', [2], '2030-06-01T00:00:00+02:00');
    const second = await list(call, first.next!);
    // ... so the last row of page 1 comes again: a client must tolerate duplicates (and, the other way, skips).
    expect(ids(second.results)[0]).toBe(matching[4]);
  });

  it('needs the trailing slash', async () => {
    expect((await call('GET', 'client')).status).toBe(404);
  });

  it('paginates the codelists and custom field definitions too', async () => {
    const species = await list(call, 'codelist/species/?page_size=3');
    expect(species.results).toHaveLength(3);
    expect(species.next).toBe(`${sim.baseUrl}codelist/species/?page=2&page_size=3`);
    const fields = await list(call, 'custom_fields/');
    expect(fields.count).toBeGreaterThanOrEqual(10);
  });
});
