// Waiting between attempts: an abortable sleep, the backoff schedule, and `Retry-After` read the
// way servers send it. The budget (budget.ts) paces requests; this spaces out retries.
import { ProvetApiError } from './errors.js';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** setTimeout as a promise that rejects with PROVET_ABORTED as soon as `signal` aborts. */
export const sleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function abortedError(signal: AbortSignal | undefined, what = 'request'): ProvetApiError {
  return new ProvetApiError('PROVET_ABORTED', `${what} aborted`, { cause: signal?.reason });
}

/**
 * `Retry-After` in milliseconds: delay-seconds (integer, or decimal as some
 * servers send) or an HTTP date. `serverNow` should be the response's own `Date`
 * so that a skewed local clock does not stretch or cancel the wait. Null when
 * absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, serverNow: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]/i.test(text)) return null; // e.g. "-5": not a date either
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - serverNow);
}

/** Capped exponential backoff with "equal jitter": between half and all of the step. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
