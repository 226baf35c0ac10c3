import { describe, expect, it } from 'vitest';
import { ProvetApiError } from '../../src/provet/errors.js';
import {
  guardNext,
  isUnderBase,
  normaliseBaseUrl,
  pageNumberOf,
  parseEnvelope,
  walkPages,
  type PageResult,
} from '../../src/provet/pages.js';

const base = normaliseBaseUrl('https://provetcloud.com/4/api/0.1');

describe('normaliseBaseUrl', () => {
  it('adds the trailing slash', () => {
    expect(base.href).toBe('https://provetcloud.com/4/api/0.1/');
  });
});

describe('next guard', () => {
  it('accepts a link under the same origin and API root', () => {
    const url = guardNext('https://provetcloud.com/4/api/0.1/client/?page=2', base, 'GET client/', 1);
    expect(url.searchParams.get('page')).toBe('2');
  });

  it.each([
    ['another host', 'https://evil.example/4/api/0.1/client/?page=2', 'https://evil.example'],
    ['another port', 'https://provetcloud.com:8443/4/api/0.1/client/?page=2', 'https://provetcloud.com:8443'],
    ['another scheme', 'http://provetcloud.com/4/api/0.1/client/?page=2', 'http://provetcloud.com'],
    [
      'another installation',
      'https://provetcloud.com/5/api/0.1/client/?page=2',
      'https://provetcloud.com outside /4/api/0.1/',
    ],
    [
      'a dot-dot escape',
      'https://provetcloud.com/4/api/0.1/../../5/api/0.1/client/',
      'https://provetcloud.com outside',
    ],
  ])('rejects %s', (_what, next, named) => {
    let caught: unknown;
    try {
      guardNext(next, base, 'GET client/', 1);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProvetApiError);
    expect(caught).toMatchObject({ code: 'PROVET_OFF_ORIGIN', retryable: false, page: 1 });
    expect((caught as Error).message).toContain(named);
    expect((caught as Error).message).toContain('GET client/ page 1');
  });

  it('rejects user info in the link', () => {
    expect(isUnderBase(new URL('https://u:p@provetcloud.com/4/api/0.1/client/'), base)).toBe(false);
  });
});

describe('pageNumberOf', () => {
  it('reads the page parameter, defaulting to 1', () => {
    expect(pageNumberOf(new URL('https://x.test/client/'))).toBe(1);
    expect(pageNumberOf(new URL('https://x.test/client/?page=7'))).toBe(7);
    expect(pageNumberOf(new URL('https://x.test/client/?page=0'))).toBeNull();
    expect(pageNumberOf(new URL('https://x.test/client/?page=abc'))).toBeNull();
  });
});

describe('parseEnvelope', () => {
  const good = { count: 2, num_pages: 1, next: null, previous: null, results: [{ id: 1 }, { id: 2 }] };
  it('accepts a valid envelope', () => {
    expect(parseEnvelope(good, 'GET client/', 1, 'u').results).toHaveLength(2);
  });
  it('names the endpoint, page and missing field', () => {
    const { results: _drop, ...noResults } = good;
    expect(() => parseEnvelope(noResults, 'GET client/', 3, 'u')).toThrow(
      'GET client/ page 3: response is not a page envelope: results is missing',
    );
  });
  it.each([
    ['negative count', { ...good, count: -1 }],
    ['fractional num_pages', { ...good, num_pages: 1.5 }],
    ['non-URL next', { ...good, next: 'page two' }],
    ['results not an array', { ...good, results: {} }],
    ['a bare array', []],
  ])('rejects %s', (_what, body) => {
    expect(() => parseEnvelope(body, 'GET client/', 1, 'u')).toThrow(
      expect.objectContaining({ code: 'PROVET_BAD_PAGE' }) as Error,
    );
  });
});

/** Pages served from a table: page n -> its `next` link, or an error. */
function fakePages(links: Record<number, string | null | Error>) {
  const fetched: number[] = [];
  const fetchPage = (url: URL, page: number): Promise<PageResult> => {
    fetched.push(page);
    const link = links[page];
    if (link instanceof Error) return Promise.reject(link);
    if (link === undefined) return Promise.reject(new Error(`unexpected page ${page}`));
    return Promise.resolve({
      endpoint: 'GET client/',
      page,
      url: url.href,
      count: 0,
      numPages: 3,
      next: link,
      records: [page],
      serverDate: null,
    });
  };
  return { fetched, fetchPage };
}

async function collect(gen: AsyncGenerator<PageResult>): Promise<number[]> {
  const pages: number[] = [];
  for await (const p of gen) pages.push(p.page);
  return pages;
}

const first = new URL('client/', base);
const link = (n: number): string => new URL(`client/?page=${n}`, base).href;
const notFound = new ProvetApiError('PROVET_HTTP', 'HTTP 404', { status: 404 });

describe('walkPages', () => {
  it('follows next to the end, lazily', async () => {
    const fake = fakePages({ 1: link(2), 2: link(3), 3: null });
    const gen = walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage });
    await gen.next();
    expect(fake.fetched).toEqual([1]);
    expect(await collect(gen)).toEqual([2, 3]);
  });

  it('throws on a next that points back', async () => {
    const fake = fakePages({ 1: link(2), 2: link(1) });
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage })),
    ).rejects.toMatchObject({
      code: 'PROVET_BAD_PAGE',
      page: 2,
    });
  });

  it('throws on a next that repeats the same URL', async () => {
    const fake = fakePages({ 1: link(2), 2: link(2) });
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage })),
    ).rejects.toThrow(/loops back/);
  });

  it('ends on a 404 for the page right after the last one received', async () => {
    const fake = fakePages({ 1: link(2), 2: link(3), 3: notFound });
    expect(await collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage }))).toEqual([
      1, 2,
    ]);
  });

  it('fails on a 404 for the first page or a skipped page', async () => {
    const onFirst = fakePages({ 1: notFound });
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: onFirst.fetchPage })),
    ).rejects.toBe(notFound);
    const skipped = fakePages({ 1: link(5), 5: notFound });
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: skipped.fetchPage })),
    ).rejects.toBe(notFound);
  });

  it('refuses an off-origin next before fetching it', async () => {
    const fake = fakePages({ 1: 'https://evil.example/4/api/0.1/client/?page=2' });
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage })),
    ).rejects.toMatchObject({
      code: 'PROVET_OFF_ORIGIN',
    });
    expect(fake.fetched).toEqual([1]);
  });

  it('is bounded by maxPages', async () => {
    const links: Record<number, string> = {};
    for (let i = 1; i <= 20; i++) links[i] = link(i + 1);
    const fake = fakePages(links);
    await expect(
      collect(walkPages(first, { base, endpoint: 'GET client/', fetchPage: fake.fetchPage, maxPages: 5 })),
    ).rejects.toThrow(/more than 5 pages/);
  });
});
