// The Provet client against real HTTP servers on 127.0.0.1: small hand-written
// servers for what the simulator will not do (hostile `next`, redirects, endless
// bodies), and the simulator for auth, paging, rate limits and faults.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvetClient, type ProvetClientOptions } from '../../src/provet/client.js';
import type { ProvetApiError } from '../../src/provet/errors.js';

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
async function crafted(handler: (req: http.IncomingMessage, res: http.ServerResponse, server: Crafted) => void): Promise<Crafted> {
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
    const provet = await crafted((_req, res, self) => json(res, envelope([{ id: 1 }], `${self.origin}/5/api/0.1/client/?page=2`)));
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
