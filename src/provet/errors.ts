// Errors of the Provet API client. The sync engine tells retryable from fatal by
// `code` and `retryable`, never by parsing messages; messages name the endpoint and
// page so that a person reading a failed run's record knows where it stopped.

export type ProvetErrorCode =
  | 'PROVET_HTTP'
  | 'PROVET_AUTH'
  | 'PROVET_TIMEOUT'
  | 'PROVET_NETWORK'
  | 'PROVET_BAD_PAGE'
  | 'PROVET_OFF_ORIGIN'
  | 'PROVET_BODY_TOO_LARGE'
  | 'PROVET_GAVE_UP'
  | 'PROVET_ABORTED'
  /** A list read by page number kept shrinking under the walk: records may have been skipped. */
  | 'PROVET_LIST_UNSTABLE'
  /** Records outside a filter came back: Provet ignores it (it drops filters it does not know). */
  | 'PROVET_FILTER_IGNORED';

export interface ProvetErrorDetails {
  retryable?: boolean;
  endpoint?: string;
  /** Never carries credentials: see `safeUrl`. */
  url?: string;
  page?: number;
  status?: number;
  /** Parsed from a 429/503 `Retry-After`, when the server sent one. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class ProvetApiError extends Error {
  override readonly name = 'ProvetApiError';
  readonly code: ProvetErrorCode;
  readonly retryable: boolean;
  readonly endpoint?: string;
  readonly url?: string;
  readonly page?: number;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(code: ProvetErrorCode, message: string, details: ProvetErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.retryable = details.retryable ?? false;
    if (details.endpoint !== undefined) this.endpoint = details.endpoint;
    if (details.url !== undefined) this.url = details.url;
    if (details.page !== undefined) this.page = details.page;
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * Provet answered as if `filter` were not there: it drops a filter it does not know and sends the
 * whole list, so a read that depends on one checks what comes back and throws this at the first
 * record outside it. Callers switch to a bounded fallback, or stop with this message.
 */
export class FilterIgnoredError extends ProvetApiError {
  constructor(
    /** The list's path under the API root, e.g. 'phonenumber/'. */
    readonly path: string,
    /** The parameter Provet ignored, e.g. 'client__in'. */
    readonly filter: string,
    message: string,
  ) {
    super('PROVET_FILTER_IGNORED', message, { endpoint: `GET ${path}` });
  }
}

export function isProvetApiError(err: unknown, code?: ProvetErrorCode): err is ProvetApiError {
  return err instanceof ProvetApiError && (code === undefined || err.code === code);
}

/** A URL fit for errors and logs: user info dropped (an API key can hide there). */
export function safeUrl(url: URL | string): string {
  const copy = new URL(url);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** "GET client/ page 3" — the prefix every message about one request starts with. */
export function where(endpoint: string, page?: number): string {
  return page === undefined ? endpoint : `${endpoint} page ${page}`;
}

/** What `interpretStatus` needs of a response. */
export interface StatusLine {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  retryAfterMs: number | null;
}

export function headerValue(headers: StatusLine['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Returns for 2xx; otherwise throws the error that status means. Redirects are
 * never followed (they could carry our Authorization header elsewhere) and the
 * message shows only the Location's origin, since its query may hold anything.
 */
export function interpretStatus(res: StatusLine, url: URL, endpoint: string, page?: number): void {
  const { status } = res;
  if (status >= 200 && status < 300) return;
  const details: ProvetErrorDetails = { endpoint, url: safeUrl(url), status, ...(page === undefined ? {} : { page }) };
  const at = where(endpoint, page);
  if (status >= 300 && status < 400) {
    const location = headerValue(res.headers, 'location');
    let target = 'no Location';
    try {
      if (location !== undefined) target = new URL(location, url).origin;
    } catch {
      target = 'an unparseable Location';
    }
    throw new ProvetApiError(
      'PROVET_HTTP',
      `${at}: HTTP ${status} redirect to ${target}; redirects are not followed`,
      details,
    );
  }
  if (status === 401) throw new ProvetApiError('PROVET_AUTH', `${at}: HTTP 401 unauthorized`, details);
  const retryable = status === 408 || status === 429 || status >= 500;
  if (res.retryAfterMs !== null) details.retryAfterMs = res.retryAfterMs;
  const reason = status === 429 ? ' (rate limited)' : status === 404 ? ' (not found)' : '';
  throw new ProvetApiError('PROVET_HTTP', `${at}: HTTP ${status}${reason}`, { ...details, retryable });
}
