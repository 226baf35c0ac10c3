// OAuth2 client credentials (RFC 6749 §4.4), as Provet's django-oauth-toolkit answers it,
// plus the deprecated static `Authorization: Token <key>`. Token lifetimes are measured on
// the simulator's clock, so moving the clock forward expires tokens.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SimulatorClock } from './time.js';

export interface AuthOptions {
  clientId: string;
  clientSecret: string;
  legacyToken: string | null;
  tokenLifetimeSeconds: number;
}

export interface AuthAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Auth {
  /** access token -> expiry in simulator-clock milliseconds */
  private readonly tokens = new Map<string, number>();

  constructor(
    readonly options: AuthOptions,
    private readonly clock: SimulatorClock,
  ) {}

  /** POST <provet_id>/oauth2/token/ */
  issueToken(formBody: string, authorization: string | undefined): AuthAnswer {
    const form = new URLSearchParams(formBody);
    const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
    const grant = form.get('grant_type');
    if (grant === null)
      return { status: 400, body: { error: 'invalid_request', error_description: 'Request is missing grant_type.' } };
    if (grant !== 'client_credentials') return { status: 400, body: { error: 'unsupported_grant_type' } };

    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    if (basic) {
      // RFC 6749 §2.3.1: id and secret are form-encoded before being joined by ':'.
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) {
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      }
    }
    if (
      clientId === null ||
      clientSecret === null ||
      !sameText(clientId, this.options.clientId) ||
      !sameText(clientSecret, this.options.clientSecret)
    ) {
      return {
        status: 401,
        body: { error: 'invalid_client' },
        headers: { ...noStore, 'WWW-Authenticate': 'Basic realm="oauth2"' },
      };
    }
    const scope = form.get('scope');
    if (scope !== null && scope !== '' && scope.split(' ').some((s) => s !== 'restapi')) {
      return { status: 400, body: { error: 'invalid_scope' } };
    }

    this.dropExpired();
    const token = randomBytes(20).toString('hex');
    this.tokens.set(token, this.clock.nowMs() + this.options.tokenLifetimeSeconds * 1000);
    return {
      status: 200,
      body: {
        access_token: token,
        expires_in: this.options.tokenLifetimeSeconds,
        token_type: 'Bearer',
        scope: 'restapi',
      },
      headers: noStore,
    };
  }

  /** null when the request may pass; otherwise the 401 to answer. */
  rejectRequest(authorization: string | undefined): AuthAnswer | null {
    const header = authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(header);
    if (bearer) {
      const expiry = this.tokens.get(bearer[1]!);
      if (expiry !== undefined && expiry > this.clock.nowMs()) return null;
      return this.unauthorized(
        'Bearer realm="api", error="invalid_token", error_description="The access token is invalid or has expired"',
      );
    }
    const legacy = /^Token\s+(\S+)$/i.exec(header);
    if (legacy && this.options.legacyToken !== null && sameText(legacy[1]!, this.options.legacyToken)) return null;
    if (legacy) return { status: 401, body: { detail: 'Invalid token.' }, headers: { 'WWW-Authenticate': 'Token' } };
    return this.unauthorized('Bearer realm="api"');
  }

  private unauthorized(challenge: string): AuthAnswer {
    return {
      status: 401,
      body: { detail: 'Authentication credentials were not provided.' },
      headers: { 'WWW-Authenticate': challenge },
    };
  }

  private dropExpired(): void {
    const now = this.clock.nowMs();
    for (const [token, expiry] of this.tokens) if (expiry <= now) this.tokens.delete(token);
  }
}
