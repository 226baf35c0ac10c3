// Authentication: OAuth2 client credentials with a shared, cached token, or the
// legacy static API key. The secret, the token and the Authorization header never
// enter an error message or a log line.
import { z } from 'zod';
import { abortedError } from './retry.js';
import { ProvetApiError, safeUrl } from './errors.js';

export type ProvetAuth =
  { kind: 'oauth'; clientId: string; clientSecret: string; tokenUrl: string } | { kind: 'token'; token: string };

/** A form POST, done by the client on its own HTTP pool with its timeouts. */
export type FormPoster = (
  url: URL,
  headers: Record<string, string>,
  body: string,
) => Promise<{ status: number; text: string }>;

export interface AuthOptions {
  now?: () => number;
  /** Renew this long before expiry at most (default 60 s); short-lived tokens renew at 90% of their life. */
  renewMarginMs?: number;
}

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
});

// When the server does not say, assume an hour and count on the 401 renewal.
const DEFAULT_LIFETIME_MS = 3_600_000;

interface CachedToken {
  header: string;
  renewAt: number;
}

export class AuthProvider {
  private readonly now: () => number;
  private readonly renewMarginMs: number;
  private cached: CachedToken | null = null;
  private pending: Promise<CachedToken> | null = null;
  private tokenRequests = 0;

  constructor(
    private readonly auth: ProvetAuth,
    private readonly post: FormPoster,
    options: AuthOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.renewMarginMs = options.renewMarginMs ?? 60_000;
  }

  /** True when a 401 can be cured by asking for a new token. */
  get renewable(): boolean {
    return this.auth.kind === 'oauth';
  }

  /** Token requests made so far (for stats and tests). */
  get tokenRequestCount(): number {
    return this.tokenRequests;
  }

  /** The Authorization header value. Concurrent callers share one token request. */
  async header(signal?: AbortSignal): Promise<string> {
    if (this.auth.kind === 'token') return `Token ${this.auth.token}`;
    if (this.cached && this.now() < this.cached.renewAt) return this.cached.header;
    // The shared request is not tied to one caller's signal: a caller that gives up
    // must not fail the others waiting on the same token.
    this.pending ??= this.fetchToken(this.auth).finally(() => {
      this.pending = null;
    });
    const token = await raceAbort(this.pending, signal);
    return token.header;
  }

  /** After a 401 with `usedHeader`: forget that token (unless it was already replaced). */
  invalidate(usedHeader: string): void {
    if (this.cached?.header === usedHeader) this.cached = null;
  }

  private async fetchToken(auth: Extract<ProvetAuth, { kind: 'oauth' }>): Promise<CachedToken> {
    const url = new URL(auth.tokenUrl);
    const where = `POST ${safeUrl(url)}`;
    // RFC 6749 2.3.1: id and secret are form-encoded before the Basic encoding.
    const basic = Buffer.from(`${formEncode(auth.clientId)}:${formEncode(auth.clientSecret)}`).toString('base64');
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'restapi' }).toString();
    this.tokenRequests++;
    const started = this.now();
    const res = await this.post(
      url,
      {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body,
    );
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      throw new ProvetApiError(
        'PROVET_AUTH',
        `${where}: token refused, HTTP ${res.status}${oauthErrorCode(res.text)}`,
        {
          status: res.status,
          url: safeUrl(url),
        },
      );
    }
    if (res.status < 200 || res.status >= 300) {
      const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      throw new ProvetApiError('PROVET_HTTP', `${where}: token request failed, HTTP ${res.status}`, {
        status: res.status,
        retryable,
        url: safeUrl(url),
      });
    }
    const parsed = tokenResponseSchema.safeParse(safeJson(res.text));
    if (!parsed.success) {
      throw new ProvetApiError('PROVET_AUTH', `${where}: token response has no usable access_token`, {
        url: safeUrl(url),
      });
    }
    const lifetimeMs = (parsed.data.expires_in ?? DEFAULT_LIFETIME_MS / 1000) * 1000;
    const margin = Math.min(this.renewMarginMs, lifetimeMs * 0.1);
    const token = { header: `Bearer ${parsed.data.access_token}`, renewAt: started + lifetimeMs - margin };
    this.cached = token;
    return token;
  }
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The OAuth `error` code (`invalid_client`) is safe to show; the description may echo input, so it is left out. */
function oauthErrorCode(text: string): string {
  const body = safeJson(text);
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const code = body.error;
    if (typeof code === 'string' && /^[a-z_]{1,40}$/.test(code)) return ` (${code})`;
  }
  return '';
}

/** Waits for `promise`, but rejects with PROVET_ABORTED as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
