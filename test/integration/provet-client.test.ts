// The Provet client against real HTTP servers on 127.0.0.1: small hand-written
// servers for what the simulator will not do (hostile `next`, redirects, endless
// bodies), and the simulator for auth, paging, rate limits and faults.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvetClient, type ProvetClientOptions } from '../../src/provet/client.js';
import type { ProvetApiError } from '../../src/provet/errors.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { startRewritingProxy } from '../support/rewriting-proxy.js';

const logger = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Crafted {
  origin: string;
  base: string;
  hits: { url: string; authorization: string | undefined }[];
}

/** A throwaway HTTP server on a loopback port; `handler` answers everything except the token URL. */
async function crafted(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, server: Crafted) => void,
): Promise<Crafted> {
  const state: Crafted = { origin: '', base: '', hits: [] };
  const server = http.createServer((req, res) => {
    state.hits.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (req.url === '/4/oauth2/token/') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `tok-${state.hits.length}`, expires_in: 3600 }));
      return;
    }
    handler(req, res, state);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.base = `${state.origin}/4/api/0.1/`;
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

function clientFor(server: Crafted, options: Partial<ProvetClientOptions> = {}): ProvetClient {
  const client = new ProvetClient({
    baseUrl: server.base,
    auth: { kind: 'oauth', clientId: 'id', clientSecret: 'very-secret', tokenUrl: `${server.origin}/4/oauth2/token/` },
    logger,
    backoffBaseMs: 20,
    backoffCapMs: 200,
    ...options,
  });
  cleanups.push(() => client.close());
  return client;
}

function json(res: http.ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function envelope(results: unknown[], next: string | null, numPages = 2): unknown {
  return { count: results.length * numPages, num_pages: numPages, next, previous: null, results };
}

async function failure(promise: Promise<unknown>): Promise<ProvetApiError> {
  try {
    await promise;
  } catch (err) {
    return err as ProvetApiError;
  }
  throw new Error('expected a failure');
}

async function drain(gen: AsyncGenerator<{ records: unknown[] }>): Promise<unknown[]> {
  const records: unknown[] = [];
  for await (const page of gen) records.push(...page.records);
  return records;
}

describe('ProvetClient against hand-written servers', () => {
  it('refuses a next link to another origin and never sends it a request', async () => {
    const evil = await crafted((_req, res) => json(res, envelope([], null)));
    const provet = await crafted((_req, res) => json(res, envelope([{ id: 1 }], `${evil.base}client/?page=2`)));
    const client = clientFor(provet);
    const err = await failure(drain(client.pages('client/', {})));
    expect(err.code).toBe('PROVET_OFF_ORIGIN');
    expect(err.message).toContain(evil.origin);
    expect(err.message).toContain('GET client/ page 1');
    expect(evil.hits).toEqual([]);
  });

  it('refuses a next link to another installation on the same host', async () => {
    const provet = await crafted((_req, res, self) =>
      json(res, envelope([{ id: 1 }], `${self.origin}/5/api/0.1/client/?page=2`)),
    );
    const err = await failure(drain(clientFor(provet).pages('client/', {})));
    expect(err.code).toBe('PROVET_OFF_ORIGIN');
    expect(provet.hits.filter((h) => h.url.startsWith('/5/'))).toEqual([]);
  });

  it('does not follow redirects, naming only the Location origin', async () => {
    const evil = await crafted((_req, res) => json(res, envelope([], null)));
    const provet = await crafted((_req, res) => {
      res.writeHead(302, { location: `${evil.base}client/?token=leak` });
      res.end();
    });
    const err = await failure(clientFor(provet).getPage('client/', {}));
    expect(err).toMatchObject({ code: 'PROVET_HTTP', status: 302, retryable: false });
    expect(err.message).toContain(evil.origin);
    expect(err.message).not.toContain('leak');
    expect(evil.hits).toEqual([]);
  });

  it('aborts an endless body at the size cap', async () => {
    const provet = await crafted((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('{"count":1,"results":[');
      pump();
    });
    const err = await failure(clientFor(provet, { maxBodyBytes: 1024 * 1024 }).getPage('client/', {}));
    expect(err.code).toBe('PROVET_BODY_TOO_LARGE');
    expect(err.retryable).toBe(false);
  });

  it('refuses a declared Content-Length over the cap without reading it', async () => {
    const provet = await crafted((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      res.write('{');
    });
    const err = await failure(clientFor(provet, { maxBodyBytes: 1024 }).getPage('client/', {}));
    expect(err.code).toBe('PROVET_BODY_TOO_LARGE');
  });

  it('renews the token once after a 401 and fails with PROVET_AUTH on a second 401', async () => {
    const provet = await crafted((_req, res) => json(res, { detail: 'Invalid token.' }, 401));
    const client = clientFor(provet);
    const err = await failure(client.getPage('client/', {}));
    expect(err).toMatchObject({ code: 'PROVET_AUTH', status: 401, retryable: false });
    expect(err.message).toMatch(/again right after renewing/);
    expect(provet.hits.filter((h) => h.url === '/4/oauth2/token/')).toHaveLength(2);
    expect(provet.hits.filter((h) => h.url.startsWith('/4/api/'))).toHaveLength(2);
    expect(err.message).not.toContain('tok-');
    expect(JSON.stringify(err)).not.toContain('very-secret');
  });

  it('recovers when one 401 is cured by a fresh token', async () => {
    let seen = 0;
    const provet = await crafted((_req, res) => {
      seen++;
      if (seen === 1) json(res, { detail: 'expired' }, 401);
      else json(res, envelope([{ id: 1 }], null, 1));
    });
    const client = clientFor(provet);
    const page = await client.getPage('client/', {});
    expect(page.records).toEqual([{ id: 1 }]);
    expect(client.stats().tokenRequests).toBe(2);
  });

  it('does not retry a 400', async () => {
    const provet = await crafted((_req, res) => json(res, { detail: 'bad filter' }, 400));
    const err = await failure(clientFor(provet).getPage('client/', { modified__gte: 'x' }));
    expect(err).toMatchObject({ code: 'PROVET_HTTP', status: 400, retryable: false });
    expect(provet.hits.filter((h) => h.url.startsWith('/4/api/'))).toHaveLength(1);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    let seen = 0;
    const provet = await crafted((_req, res) => {
      seen++;
      if (seen === 1) {
        const now = Date.now();
        res.writeHead(429, { 'retry-after': new Date(now + 2000).toUTCString(), date: new Date(now).toUTCString() });
        res.end();
      } else json(res, envelope([{ id: 1 }], null, 1));
    });
    const client = clientFor(provet);
    const started = Date.now();
    await client.getPage('client/', {});
    // HTTP dates have whole seconds, so the wait is between 1 and 2 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(client.stats().throttled).toBe(1);
  });

  it('stops an in-flight request promptly on abort', async () => {
    const provet = await crafted(() => {
      /* never answers */
    });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const err = await failure(clientFor(provet).getPage('client/', {}, { signal: controller.signal }));
    expect(err.code).toBe('PROVET_ABORTED');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('getAll accepts a bare array and an envelope with pages', async () => {
    const provet = await crafted((req, res, self) => {
      const url = new URL(req.url ?? '/', self.origin);
      if (url.pathname.endsWith('/codelist/species/')) return json(res, [{ id: 1 }, { id: 2 }]);
      const page = Number(url.searchParams.get('page') ?? '1');
      json(res, envelope([{ id: page * 10 }], page < 3 ? `${self.base}custom_fields/?page=${page + 1}` : null, 3));
    });
    const client = clientFor(provet);
    expect((await client.getAll('codelist/species/')).records).toEqual([{ id: 1 }, { id: 2 }]);
    const fields = await client.getAll('custom_fields/');
    expect(fields.records).toEqual([{ id: 10 }, { id: 20 }, { id: 30 }]);
    expect(fields.serverDate).toBeInstanceOf(Date);
  });

  it('walks pages with the legacy token header', async () => {
    const provet = await crafted((req, res, self) => {
      const page = Number(new URL(req.url ?? '/', self.origin).searchParams.get('page') ?? '1');
      json(res, envelope([{ id: page }], page < 2 ? `${self.base}client/?page=2` : null));
    });
    const client = clientFor(provet, { auth: { kind: 'token', token: 'legacy-key' } });
    expect(await drain(client.pages('client/', {}))).toEqual([{ id: 1 }, { id: 2 }]);
    expect(provet.hits.map((h) => h.authorization)).toEqual(['Token legacy-key', 'Token legacy-key']);
  });
});

/** A pino logger whose lines we can read back (to prove that no secret is logged). */
function capturedLogger() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }) };
}

async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ clients: 120, seed: 7, port: 0, ...options });
  cleanups.push(() => sim.close());
  return sim;
}

function simClient(sim: Simulator, options: Partial<ProvetClientOptions> = {}): ProvetClient {
  const client = new ProvetClient({
    baseUrl: sim.baseUrl,
    auth: { kind: 'oauth', clientId: sim.clientId, clientSecret: sim.clientSecret, tokenUrl: sim.tokenUrl },
    logger,
    backoffBaseMs: 20,
    backoffCapMs: 200,
    ...options,
  });
  cleanups.push(() => client.close());
  return client;
}

/** Every client id the simulator holds, sorted. */
function expectedClientIds(sim: Simulator): number[] {
  return sim
    .exportState()
    .clients.map((c) => c['id'] as number)
    .sort((a, b) => a - b);
}

async function clientIds(client: ProvetClient, pageSize: number): Promise<number[]> {
  const records = await drain(client.pages('client/', {}, { pageSize }));
  return records.map((r) => (r as { id: number }).id);
}

function sorted(ids: number[]): number[] {
  return [...ids].sort((a, b) => a - b);
}

describe('ProvetClient against the simulator', () => {
  it('passes each record to the decoder as it is parsed, with its bytes as sent, and without them when the page cannot be split', async () => {
    const sim = await simulator();
    // A top-level key spelt with an escape is the same key to JSON.parse, but the record-by-record
    // scan gives up on it: page 2 (the one whose next link is page 3) is parsed whole, and its
    // records are decoded afterwards.
    let proxyOrigin = '';
    const proxy = await startRewritingProxy(sim.baseUrl, {
      rewrite: (body) => {
        const linked = body.replaceAll(new URL(sim.baseUrl).origin, proxyOrigin);
        return linked.includes('page=3') ? linked.replace('"count"', '"co\\u0075nt"') : linked;
      },
    });
    proxyOrigin = new URL(proxy.baseUrl).origin;
    cleanups.push(() => proxy.close());
    const client = simClient(sim, { baseUrl: proxy.baseUrl });
    const seen: { page: number; withBytes: number; without: number }[] = [];
    const ids: number[] = [];
    for await (const page of client.pages(
      'client/',
      {},
      {
        pageSize: 40,
        decodeRecord: (record, sent) => {
          if (sent) expect(JSON.parse(sent.bytes.toString('utf8'))).toEqual(record);
          return { decodedId: (record as { id: number }).id, sent: sent !== undefined };
        },
      },
    )) {
      expect(page.count).toBe(120);
      ids.push(...page.records.map((r) => r.decodedId));
      seen.push({
        page: page.page,
        withBytes: page.records.filter((r) => r.sent).length,
        without: page.records.filter((r) => !r.sent).length,
      });
    }
    expect(seen).toEqual([
      { page: 1, withBytes: 40, without: 0 },
      { page: 2, withBytes: 0, without: 40 },
      { page: 3, withBytes: 40, without: 0 },
    ]);
    expect(sorted(ids)).toEqual(expectedClientIds(sim));
  });

  it('reports a decoder that throws as it is, without retrying the page as malformed', async () => {
    const sim = await simulator();
    const client = simClient(sim);
    const walk = client.pages(
      'client/',
      {},
      {
        pageSize: 40,
        decodeRecord: () => {
          // What JSON.parse throws on a malformed body, so only where it came from tells them apart.
          throw new SyntaxError('mapper bug');
        },
      },
    );
    await expect(walk.next()).rejects.toThrow(new SyntaxError('mapper bug'));
    expect(client.stats()).toMatchObject({ requests: 1, retries: 0 });
  });

  it('walks every page with one OAuth token, yielding each record once', async () => {
    const sim = await simulator();
    const { lines, logger: captured } = capturedLogger();
    const client = simClient(sim, { logger: captured });
    const pages: number[] = [];
    const ids: number[] = [];
    for await (const page of client.pages('client/', {}, { pageSize: 25 })) {
      pages.push(page.page);
      ids.push(...page.records.map((r) => (r as { id: number }).id));
      expect(page.count).toBe(120);
      expect(page.serverDate).toBeInstanceOf(Date);
    }
    expect(pages).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(sorted(ids)).toEqual(expectedClientIds(sim));
    expect(sim.requestCounts()['POST oauth2/token/']).toBe(1);
    expect(client.stats()).toMatchObject({ requests: 5, tokenRequests: 1, retries: 0 });
    expect(client.stats().byEndpoint['GET client/']).toEqual({ requests: 5, throttled: 0, costUnits: 5 });
    expect(lines.filter((l) => l.includes('"provet request"'))).toHaveLength(5);
    const logged = lines.join('\n');
    expect(logged).not.toContain(sim.clientSecret);
    expect(logged).not.toMatch(/Bearer|Basic /);
  });

  it('renews the token shortly before it expires, without meeting a 401', async () => {
    const sim = await simulator({ tokenLifetimeSeconds: 1 });
    const { lines, logger: captured } = capturedLogger();
    const client = simClient(sim, { logger: captured });
    for (let i = 0; i < 6; i++) {
      await client.getPage('client/', { page_size: 5 });
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(sim.requestCounts()['POST oauth2/token/']).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain('HTTP 401');
  });

  it('renews the token once after a 401 (token expired on the server side)', async () => {
    const sim = await simulator();
    const client = simClient(sim);
    await client.getPage('client/', {});
    sim.setClockOffset(11 * 3_600_000); // past the 10-hour token lifetime
    const page = await client.getPage('client/', { page: 2 });
    expect(page.page).toBe(2);
    expect(page.serverDate!.getTime()).toBeGreaterThan(Date.now() + 10 * 3_600_000);
    expect(sim.requestCounts()['POST oauth2/token/']).toBe(2);
  });

  it('authenticates with the legacy token', async () => {
    const sim = await simulator({ legacyToken: 'legacy-key-123' });
    const client = simClient(sim, { auth: { kind: 'token', token: 'legacy-key-123' } });
    expect(sorted(await clientIds(client, 50))).toEqual(expectedClientIds(sim));
    expect(sim.requestCounts()['POST oauth2/token/']).toBeUndefined();
  });

  it('fails with PROVET_AUTH on a wrong secret, without the secret in the error', async () => {
    const sim = await simulator();
    const wrong = 'wrong-secret-value';
    const { lines, logger: captured } = capturedLogger();
    const client = simClient(sim, {
      logger: captured,
      auth: { kind: 'oauth', clientId: sim.clientId, clientSecret: wrong, tokenUrl: sim.tokenUrl },
    });
    const err = await failure(client.getPage('client/', {}));
    expect(err).toMatchObject({ code: 'PROVET_AUTH', retryable: false, status: 401 });
    expect(err.message).toContain('invalid_client');
    for (const text of [err.message, JSON.stringify(err), String(err.stack), lines.join('\n')])
      expect(text).not.toContain(wrong);
    expect(sim.requestCounts()['POST oauth2/token/']).toBe(1);
  });

  it('rejects a wrong legacy token as fatal', async () => {
    const sim = await simulator({ legacyToken: 'right' });
    const err = await failure(simClient(sim, { auth: { kind: 'token', token: 'wrong' } }).getPage('client/', {}));
    expect(err).toMatchObject({ code: 'PROVET_AUTH', status: 401 });
    expect(sim.requestCounts()['GET client/']).toBe(1);
  });

  it('honours 429 Retry-After, and its budget keeps a run nearly free of 429s', async () => {
    const limits = { 'GET client/': 6 };
    const sim = await simulator({ rateLimit: { windowMs: 1000, limits } });
    // Without a budget of its own, the client meets 429s and still finishes by waiting them out.
    const blind = simClient(sim, { rateLimits: { 'GET client/': 1_000_000 } });
    expect(sorted(await clientIds(blind, 10))).toEqual(expectedClientIds(sim));
    expect(sim.requestCounts()['GET client/ 429']).toBeGreaterThan(0);
    expect(blind.stats().throttled).toBe(sim.requestCounts()['GET client/ 429']);

    await new Promise((r) => setTimeout(r, 1100));
    sim.resetRequestCounts();
    const paced = simClient(sim, { rateLimits: limits, rateWindowMs: 1000 });
    const started = Date.now();
    expect(sorted(await clientIds(paced, 10))).toEqual(expectedClientIds(sim));
    expect(sim.requestCounts()['GET client/ 429'] ?? 0).toBeLessThanOrEqual(1);
    // 12 pages at 6 per second (plus the 2% time margin): the second six waited for the window.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('counts a larger page as several requests against the budget', async () => {
    const sim = await simulator({ rateLimit: { windowMs: 1000, limits: { 'GET client/': 20 } } });
    const client = simClient(sim, { rateLimits: { 'GET client/': 20 }, rateWindowMs: 1000 });
    expect(sorted(await clientIds(client, 500))).toEqual(expectedClientIds(sim));
    await drain(client.pages('client/', {}, { pageSize: 500 }));
    expect(client.stats().byEndpoint['GET client/']?.costUnits).toBe(20);
    expect(sim.requestCounts()['GET client/ 429'] ?? 0).toBe(0);
  });

  it('retries 5xx answers and dropped connections until the walk is complete', async () => {
    const sim = await simulator();
    sim.setFaults('GET client/', { errorRate: 0.3, dropRate: 0.2 });
    const client = simClient(sim);
    expect(sorted(await clientIds(client, 10))).toEqual(expectedClientIds(sim));
    expect(client.stats().retries).toBeGreaterThan(0);
  });

  it('retries truncated bodies', async () => {
    const sim = await simulator();
    sim.setFaults('GET client/', { truncateRate: 0.4 });
    const client = simClient(sim);
    expect(sorted(await clientIds(client, 10))).toEqual(expectedClientIds(sim));
    expect(client.stats().retries).toBeGreaterThan(0);
  });

  it('times out a body that trickles past the timeout, then retries', async () => {
    const sim = await simulator();
    sim.setFaults('GET client/', { slowBodyMs: 2000 });
    const { lines, logger: captured } = capturedLogger();
    const client = simClient(sim, { logger: captured, requestTimeoutMs: 500 });
    setTimeout(() => sim.setFaults('GET client/', null), 700);
    const started = Date.now();
    const page = await client.getPage('client/', {});
    expect(page.records.length).toBe(50);
    expect(client.stats().retries).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.includes('PROVET_TIMEOUT'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives up with PROVET_GAVE_UP once the retry deadline has passed', async () => {
    const sim = await simulator();
    sim.setFaults('GET client/', { errorRate: 1 });
    const client = simClient(sim, { retryDeadlineMs: 1500, maxRetries: 1000, backoffBaseMs: 100, backoffCapMs: 400 });
    const started = Date.now();
    const err = await failure(client.getPage('client/', { page: 2 }));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err).toMatchObject({ code: 'PROVET_GAVE_UP', endpoint: 'GET client/', page: 2 });
    expect(err.message).toMatch(/^GET client\/ page 2: gave up/);
    expect((err.cause as ProvetApiError).code).toBe('PROVET_HTTP');
    expect([500, 502, 503]).toContain((err.cause as ProvetApiError).status);
  });

  it('gives up after maxRetries', async () => {
    const sim = await simulator();
    sim.setFaults('GET client/', { dropRate: 1 });
    const client = simClient(sim, { maxRetries: 2 });
    const err = await failure(client.getPage('client/', {}));
    expect(err.code).toBe('PROVET_GAVE_UP');
    expect((err.cause as ProvetApiError).code).toBe('PROVET_NETWORK');
    expect(sim.requestCounts()['GET client/']).toBe(3);
  });

  it('caps the body size', async () => {
    const sim = await simulator();
    const err = await failure(simClient(sim, { maxBodyBytes: 8 * 1024 }).getPage('client/', { page_size: 100 }));
    expect(err).toMatchObject({ code: 'PROVET_BODY_TOO_LARGE', retryable: false });
  });

  it('reads codelists and custom field definitions with getAll', async () => {
    const sim = await simulator();
    const client = simClient(sim);
    const state = sim.exportState();
    expect((await client.getAll('codelist/species/')).records).toHaveLength(state.species.length);
    expect((await client.getAll('codelist/breeds/', { page_size: 7 })).records).toHaveLength(state.breeds.length);
    expect((await client.getAll('custom_fields/')).records).toHaveLength(state.customFields.length);
  });

  it('fails with a 404 for a missing record, not retried', async () => {
    const sim = await simulator();
    const client = simClient(sim);
    const err = await failure(client.getJson('client/999999/'));
    expect(err).toMatchObject({ code: 'PROVET_HTTP', status: 404, retryable: false, endpoint: 'GET client/<id>/' });
    const one = await client.getJson(`client/${expectedClientIds(sim)[0]}/`);
    expect(one.body).toMatchObject({ id: expectedClientIds(sim)[0] });
  });
});
