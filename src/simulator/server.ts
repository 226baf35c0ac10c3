// The HTTP front: picks the endpoint key, applies faults, authentication and rate limits
// in the order a real deployment would (gateway trouble first, then the application), and
// counts every request per endpoint key.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { matchRoute, type Api } from './api.js';
import type { Auth } from './auth.js';
import type { Faults, FaultPlan } from './faults.js';
import { BodyTooLargeError, gatewayError, json, readBody, sendReply, sleep, type Reply } from './http.js';
import { retryAfterSeconds, type RateLimiter } from './limits.js';
import { parsePageSize, DEFAULT_PAGE_SIZE } from './pagination.js';
import type { SimulatorClock } from './time.js';

export interface FrontParts {
  provetId: string;
  clock: SimulatorClock;
  auth: Auth;
  faults: Faults;
  /** null when rate limiting is off */
  limiter: RateLimiter | null;
  counts: RequestCounts;
  api: () => Api;
  admin: (method: string, path: string, body: string) => Promise<Reply>;
}

/** Requests per endpoint key; rate-limited ones are counted apart, under '<key> 429'. */
export class RequestCounts {
  private readonly counts = new Map<string, number>();

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  reset(): void {
    this.counts.clear();
  }
}

const NO_FAULTS: FaultPlan = { latencyMs: 0, errorStatus: null, drop: false, truncate: false, slowBodyMs: 0 };

function isLoopback(address: string | undefined): boolean {
  return (
    address === '127.0.0.1' ||
    address === '::1' ||
    address === '::ffff:127.0.0.1' ||
    (address?.startsWith('127.') ?? false)
  );
}

export function requestHandler(parts: FrontParts): (req: IncomingMessage, res: ServerResponse) => void {
  const tokenPath = `/${parts.provetId}/oauth2/token/`;
  const apiPrefix = `/${parts.provetId}/api/0.1/`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const path = url.pathname;
    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        await sendReply(res, json(413, { detail: 'Request body too large.' }), parts.clock, NO_FAULTS);
      else res.destroy();
      return;
    }

    if (path === '/__admin' || path.startsWith('/__admin/')) {
      const reply = isLoopback(req.socket.remoteAddress)
        ? await parts.admin(method, path, body)
        : json(403, { detail: 'The admin routes answer loopback clients only.' });
      await sendReply(res, reply, parts.clock, NO_FAULTS);
      return;
    }

    const isToken = path === tokenPath;
    const route = path.startsWith(apiPrefix) ? matchRoute(method, path.slice(apiPrefix.length)) : null;
    const key = isToken ? `${method} oauth2/token/` : (route?.key ?? `${method} (unknown)`);

    const plan = parts.faults.plan(key);
    if (plan.latencyMs > 0) await sleep(plan.latencyMs);
    if (plan.errorStatus !== null) {
      parts.counts.add(key);
      await sendReply(res, gatewayError(plan.errorStatus), parts.clock, { ...plan, drop: false });
      return;
    }

    let reply: Reply;
    let countedKey = key;
    if (isToken) {
      reply =
        method === 'POST'
          ? answer(parts.auth.issueToken(body, req.headers.authorization))
          : json(405, { detail: `Method "${method}" not allowed.` }, { Allow: 'POST' });
    } else if (!route) {
      reply = json(404, { detail: 'Not found.' });
    } else {
      const rejected = parts.auth.rejectRequest(req.headers.authorization);
      const throttle =
        rejected || !parts.limiter ? null : takeBudget(parts.limiter, key, route.spec?.list ?? false, url.searchParams);
      if (rejected) reply = answer(rejected);
      else if (throttle) {
        countedKey = `${key} 429`;
        reply = throttle;
      } else {
        reply = parts.api().handle({
          method,
          route,
          params: url.searchParams,
          path,
          body,
          contentType: req.headers['content-type'],
        });
      }
    }
    parts.counts.add(countedKey);
    await sendReply(res, reply, parts.clock, plan);
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A bug in the simulator must show as a 500, not as a hung test.
      if (!res.headersSent) {
        const detail = `simulator error: ${error instanceof Error ? error.message : String(error)}`;
        void sendReply(res, json(500, { detail }), parts.clock, NO_FAULTS);
      } else res.destroy();
    });
  };
}

function answer(a: { status: number; body: unknown; headers?: Record<string, string> }): Reply {
  return json(a.status, a.body, a.headers);
}

/** null when the request fits in the window; otherwise the 429 to send. */
function takeBudget(limiter: RateLimiter, key: string, list: boolean, params: URLSearchParams): Reply | null {
  // A list request costs in proportion to its page size; any other request costs one.
  const cost = list ? Math.max(1, parsePageSize(params) / DEFAULT_PAGE_SIZE) : 1;
  const decision = limiter.take(key, cost);
  if (decision.allowed) return null;
  const seconds = retryAfterSeconds(decision.retryAfterMs);
  return json(
    429,
    { detail: `Request was throttled. Expected available in ${seconds} seconds.` },
    { 'Retry-After': String(seconds) },
  );
}
