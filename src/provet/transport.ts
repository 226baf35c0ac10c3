// One HTTP exchange with Provet on an undici pool: the request, a timeout that covers headers and
// the whole body, a cap on the body's size, and transport failures turned into ProvetApiErrors.
// Retries, auth and the budget are the requester's (requester.ts), pagination the client's
// (client.ts); this knows only the wire.
import { Agent, errors as undiciErrors } from 'undici';
import { abortedError, parseRetryAfter } from './retry.js';
import { ProvetApiError, headerValue, safeUrl } from './errors.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  serverDate: Date | null;
  retryAfterMs: number | null;
}

export interface SendRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string | undefined;
  /** "GET client/ page 3", for messages. */
  label: string;
  timeoutMs: number;
  maxBodyBytes: number;
  signal: AbortSignal | undefined;
}

/**
 * One HTTP exchange. The timeout covers headers and the whole body (undici's own
 * timeouts only watch the gaps between chunks, so a trickling body would never
 * end); the body is read with a size cap so an endless one cannot eat memory.
 */
export async function send(agent: Agent, req: SendRequest): Promise<RawResponse> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs);
  const onAbort = (): void => controller.abort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const details = { url: safeUrl(req.url) };
  try {
    if (req.signal?.aborted) throw abortedError(req.signal, req.label);
    const res = await agent.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method,
      headers: req.headers,
      body: req.body ?? null,
      signal: controller.signal,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    const tooLarge = (): ProvetApiError =>
      new ProvetApiError('PROVET_BODY_TOO_LARGE', `${req.label}: response body exceeds ${req.maxBodyBytes} bytes`, {
        ...details,
        status: res.statusCode,
      });
    if (Number(headerValue(res.headers, 'content-length') ?? 0) > req.maxBodyBytes) {
      controller.abort();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > req.maxBodyBytes) {
        controller.abort();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
    const serverDate = parseHttpDate(headerValue(res.headers, 'date'));
    const retryAfterMs = parseRetryAfter(headerValue(res.headers, 'retry-after'), serverDate?.getTime() ?? Date.now());
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), serverDate, retryAfterMs };
  } catch (err) {
    if (err instanceof ProvetApiError) throw err;
    if (req.signal?.aborted) throw abortedError(req.signal, req.label);
    throw transportError(err, req.label, timedOut, req.timeoutMs, details);
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onAbort);
  }
}

function transportError(
  err: unknown,
  label: string,
  timedOut: boolean,
  timeoutMs: number,
  details: { url: string },
): ProvetApiError {
  const timeout =
    timedOut ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError;
  if (timeout) {
    return new ProvetApiError('PROVET_TIMEOUT', `${label}: no complete response within ${timeoutMs} ms`, {
      ...details,
      retryable: true,
      cause: err,
    });
  }
  const reason = err instanceof Error ? ((err as { code?: string }).code ?? err.message) : String(err);
  return new ProvetApiError('PROVET_NETWORK', `${label}: ${reason}`, { ...details, retryable: true, cause: err });
}

function parseHttpDate(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
