import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { caller, token } from './helpers.js';

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    clients: 5,
    clientId: 'my client',
    clientSecret: 's3cret:with+odd&chars',
    legacyToken: 'legacy-key',
    tokenLifetimeSeconds: 2,
  });
});
afterAll(() => sim.close());

function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-encode both before joining them.
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function tokenRequest(
  body: string,
  authorization?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(sim.tokenUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      ...(authorization ? { Authorization: authorization } : {}),
    },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('OAuth2 client credentials', () => {
  it('issues a bearer token for credentials in HTTP Basic', async () => {
    const answer = await tokenRequest('grant_type=client_credentials', basic('my client', 's3cret:with+odd&chars'));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ expires_in: 2, token_type: 'Bearer', scope: 'restapi' });
    expect(answer.body.access_token).toMatch(/^[0-9a-f]{40}$/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
  });

  it('issues a token for credentials in the form body', async () => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'my client',
      client_secret: 's3cret:with+odd&chars',
    });
    const answer = await tokenRequest(form.toString());
    expect(answer.status).toBe(200);
    const page = await fetch(`${sim.baseUrl}client/`, {
      headers: { Authorization: `Bearer ${String(answer.body.access_token)}` },
    });
    expect(page.status).toBe(200);
  });

  it('answers 401 invalid_client to wrong or missing credentials, 400 to other grants', async () => {
    expect(await tokenRequest('grant_type=client_credentials', basic('my client', 'wrong'))).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'other',
      client_secret: 's3cret:with+odd&chars',
    });
    expect(await tokenRequest(form.toString())).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await tokenRequest('grant_type=client_credentials')).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await tokenRequest('grant_type=password', basic('my client', 's3cret:with+odd&chars'))).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    expect(await tokenRequest('', basic('my client', 's3cret:with+odd&chars'))).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
  });

  it('answers 401 with WWW-Authenticate without a token or with a made-up one', async () => {
    for (const headers of [{}, { Authorization: 'Bearer not-a-token' }, { Authorization: 'Basic abc' }] as Record<
      string,
      string
    >[]) {
      const res = await fetch(`${sim.baseUrl}client/`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { detail: string }).detail).toBeTypeOf('string');
    }
  });

  it('expires tokens after their lifetime', async () => {
    const bearer = await tokenRequest('grant_type=client_credentials', basic('my client', 's3cret:with+odd&chars'));
    const headers = { Authorization: `Bearer ${String(bearer.body.access_token)}` };
    expect((await fetch(`${sim.baseUrl}client/`, { headers })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const expired = await fetch(`${sim.baseUrl}client/`, { headers });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('measures expiry on the simulator clock, so moving it forward expires tokens', async () => {
    const long = await startSimulator({ clients: 1 });
    try {
      const call = caller(long, { Authorization: `Bearer ${await token(long)}` });
      expect((await call('GET', 'client/')).status).toBe(200);
      long.setClockOffset(10 * 3600 * 1000 + 1000);
      expect((await call('GET', 'client/')).status).toBe(401);
    } finally {
      await long.close();
    }
  });

  it('accepts the legacy `Token <key>` only when configured, and only the right key', async () => {
    expect((await fetch(`${sim.baseUrl}client/`, { headers: { Authorization: 'Token legacy-key' } })).status).toBe(200);
    expect((await fetch(`${sim.baseUrl}client/`, { headers: { Authorization: 'Token other' } })).status).toBe(401);
    const plain = await startSimulator({ clients: 1 });
    try {
      expect((await fetch(`${plain.baseUrl}client/`, { headers: { Authorization: 'Token legacy-key' } })).status).toBe(
        401,
      );
    } finally {
      await plain.close();
    }
  });

  it('counts token requests under their own key', () => {
    expect(sim.requestCounts()['POST oauth2/token/']).toBeGreaterThan(5);
  });
});
