import { describe, expect, it } from 'vitest';
import { AuthProvider, type FormPoster } from '../../src/provet/auth.js';

const SECRET = 's3cr3t-value';
const oauth = {
  kind: 'oauth' as const,
  clientId: 'sync-client',
  clientSecret: SECRET,
  tokenUrl: 'https://provet.test/4/oauth2/token/',
};

/** A token endpoint that hands out tok-1, tok-2, ... and records what it was sent. */
function tokenServer(answer?: (n: number) => { status: number; text: string }) {
  const seen: { url: string; headers: Record<string, string>; body: string }[] = [];
  const post: FormPoster = async (url, headers, body) => {
    seen.push({ url: url.href, headers, body });
    await new Promise((r) => setTimeout(r, 5));
    const n = seen.length;
    return (
      answer?.(n) ?? {
        status: 200,
        text: JSON.stringify({ access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 100 }),
      }
    );
  };
  return { seen, post };
}

describe('AuthProvider', () => {
  it('sends client credentials as HTTP Basic with a client_credentials form body', async () => {
    const server = tokenServer();
    const auth = new AuthProvider(oauth, server.post);
    expect(await auth.header()).toBe('Bearer tok-1');
    const request = server.seen[0];
    expect(request?.url).toBe(oauth.tokenUrl);
    expect(request?.headers['authorization']).toBe(`Basic ${Buffer.from(`sync-client:${SECRET}`).toString('base64')}`);
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(new URLSearchParams(request?.body).get('grant_type')).toBe('client_credentials');
  });

  it('caches the token and shares one request among concurrent callers', async () => {
    const server = tokenServer();
    const auth = new AuthProvider(oauth, server.post);
    const headers = await Promise.all(Array.from({ length: 10 }, () => auth.header()));
    expect(new Set(headers)).toEqual(new Set(['Bearer tok-1']));
    expect(await auth.header()).toBe('Bearer tok-1');
    expect(server.seen).toHaveLength(1);
  });

  it('renews shortly before expiry', async () => {
    let now = 0;
    const server = tokenServer();
    const auth = new AuthProvider(oauth, server.post, { now: () => now, renewMarginMs: 5_000 });
    expect(await auth.header()).toBe('Bearer tok-1');
    now = 94_000; // 100 s token, renewed 5 s early
    expect(await auth.header()).toBe('Bearer tok-1');
    now = 95_500;
    expect(await auth.header()).toBe('Bearer tok-2');
  });

  it('forgets a token after a 401, but only the token that failed', async () => {
    const server = tokenServer();
    const auth = new AuthProvider(oauth, server.post);
    const first = await auth.header();
    auth.invalidate(first);
    const second = await auth.header();
    expect(second).toBe('Bearer tok-2');
    auth.invalidate(first); // a late 401 for the old token must not drop the new one
    expect(await auth.header()).toBe('Bearer tok-2');
    expect(auth.tokenRequestCount).toBe(2);
  });

  it('reports a refused token as PROVET_AUTH without the secret', async () => {
    const server = tokenServer(() => ({
      status: 401,
      text: JSON.stringify({ error: 'invalid_client', error_description: `bad ${SECRET}` }),
    }));
    const auth = new AuthProvider(oauth, server.post);
    const err = await auth.header().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'PROVET_AUTH', retryable: false, status: 401 });
    expect((err as Error).message).toContain('invalid_client');
    expect(JSON.stringify(err)).not.toContain(SECRET);
    expect((err as Error).message).not.toContain(SECRET);
  });

  it('treats a 5xx from the token endpoint as retryable and tries again next time', async () => {
    const server = tokenServer((n) =>
      n === 1
        ? { status: 503, text: '' }
        : { status: 200, text: JSON.stringify({ access_token: 'ok', expires_in: 60 }) },
    );
    const auth = new AuthProvider(oauth, server.post);
    await expect(auth.header()).rejects.toMatchObject({ code: 'PROVET_HTTP', retryable: true });
    expect(await auth.header()).toBe('Bearer ok');
  });

  it('uses the legacy token as "Token <key>" without any request', async () => {
    const server = tokenServer();
    const auth = new AuthProvider({ kind: 'token', token: 'abc' }, server.post);
    expect(await auth.header()).toBe('Token abc');
    expect(auth.renewable).toBe(false);
    expect(server.seen).toHaveLength(0);
  });

  it('lets an aborted caller go without failing the others waiting for the same token', async () => {
    const server = tokenServer();
    const auth = new AuthProvider(oauth, server.post);
    const controller = new AbortController();
    const aborted = auth.header(controller.signal);
    const patient = auth.header();
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'PROVET_ABORTED' });
    expect(await patient).toBe('Bearer tok-1');
  });
});
