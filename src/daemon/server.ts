// The daemon's one small HTTP server: /healthz, /readyz, /metrics, and, when WEBHOOK_SECRET is
// set, POST /webhooks/provet/<secret> (in fleet mode <installation>/<secret>, see WebhookRouter). It
// only reports on runs or asks for one; it writes nothing.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { ReadinessReport } from './readiness.js';
import { BadWebhookBodyError, parseHints, secretMatches, type Hint } from './webhook.js';

type WebhookResult = 'queued' | 'ignored' | 'refused' | 'invalid' | 'too_large' | 'queue_full';

/**
 * POST /webhooks/provet/<rest>: `route` gets what follows the prefix and answers with where the
 * hints go, or null when the path names no endpoint (404, the same for a wrong secret, whatever
 * the method). `accept` returns how many hints it queued (fewer: the rest wait for the poll).
 * The daemon has one route, its secret (singleSecretRouter); fleet mode one per installation.
 */
export interface WebhookRouter {
  maxBodyBytes: number;
  route: (rest: string) => Promise<{ accept: (hints: Hint[]) => Promise<number> } | null>;
  /** Counts each request by result, for the metrics. */
  count?: (result: WebhookResult) => void;
}

/** The daemon's webhook: POST /webhooks/provet/<WEBHOOK_SECRET>, hints queued by `onHint`. */
export function singleSecretRouter(options: {
  secret: string;
  maxBodyBytes: number;
  /** Queues a hint; false when the queue is full (the poll will catch the change). */
  onHint: (hint: Hint) => boolean;
  count?: (result: WebhookResult) => void;
}): WebhookRouter {
  const target = { accept: (hints: Hint[]) => Promise.resolve(hints.filter((h) => options.onHint(h)).length) };
  return {
    maxBodyBytes: options.maxBodyBytes,
    route: (rest) => Promise.resolve(secretMatches(rest, options.secret) ? target : null),
    ...(options.count ? { count: options.count } : {}),
  };
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  readiness: () => Promise<ReadinessReport>;
  metrics: Registry;
  webhook?: WebhookRouter;
}

export interface HttpServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const WEBHOOK_PREFIX = '/webhooks/provet/';

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const logger = options.logger.child({ component: 'http' });
  const server = createServer((req, res) => {
    route(options, req, res).catch((err: unknown) => {
      logger.error({ err: { message: (err as Error).message }, path: safePath(req.url) }, 'HTTP handler failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  // Slow or stuck clients must not hold sockets: these bound headers and the whole request.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info(
    { port: address.port, host: options.host, webhooks: options.webhook !== undefined },
    'HTTP server listening',
  );
  let closed: Promise<void> | null = null;
  return {
    port: address.port,
    url: `http://${host}:${address.port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

async function route(options: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  if (path.startsWith(WEBHOOK_PREFIX) && options.webhook)
    return webhook(options.webhook, options.logger, req, res, path.slice(WEBHOOK_PREFIX.length));
  const reading = method === 'GET' || method === 'HEAD';
  if (path === '/healthz') return reading ? send(res, 200, 'text/plain', 'ok\n') : notAllowed(res);
  if (path === '/readyz') {
    if (!reading) return notAllowed(res);
    const report = await options.readiness().catch((err: unknown): ReadinessReport => ({
      ready: false,
      checks: [{ name: 'readiness', ok: false, detail: (err as Error).message }],
    }));
    return send(res, report.ready ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`);
  }
  if (path === '/metrics') {
    if (!reading) return notAllowed(res);
    return send(res, 200, options.metrics.contentType, await options.metrics.metrics());
  }
  return send(res, 404, 'text/plain', 'not found\n');
}

async function webhook(
  router: WebhookRouter,
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  rest: string,
): Promise<void> {
  // Without the right path the endpoint does not exist, whatever the method.
  const target = await router.route(decodeURIComponentSafe(rest));
  if (!target) {
    router.count?.('refused');
    req.resume();
    return send(res, 404, 'text/plain', 'not found\n');
  }
  if (req.method !== 'POST') return notAllowed(res, 'POST');
  const body = await readBody(req, router.maxBodyBytes);
  if (body === null) {
    router.count?.('too_large');
    res.setHeader('connection', 'close');
    return send(res, 413, 'text/plain', 'body too large\n');
  }
  let hints: Hint[];
  try {
    hints = parseHints(req.headers['content-type'], body);
  } catch (err) {
    if (!(err instanceof BadWebhookBodyError)) throw err;
    router.count?.('invalid');
    return send(res, 400, 'text/plain', `${err.message}\n`);
  }
  if (hints.length === 0) {
    // A trigger this mirror does not follow: 200, so Provet does not retry it ten times.
    router.count?.('ignored');
    return send(res, 200, 'application/json', '{"queued":0}\n');
  }
  const queued = await target.accept(hints);
  router.count?.(queued === hints.length ? 'queued' : 'queue_full');
  if (queued < hints.length)
    logger.warn(
      { dropped: hints.length - queued },
      'webhook queue full: hint dropped, the scheduled poll will bring the change',
    );
  return send(res, 200, 'application/json', `${JSON.stringify({ queued })}\n`);
}

/** The body as text, or null once it exceeds the cap (reading stops there). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function notAllowed(res: ServerResponse, allow = 'GET, HEAD'): void {
  res.setHeader('allow', allow);
  send(res, 405, 'text/plain', 'method not allowed\n');
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A request path fit for a log line: the webhook secret never appears. */
function safePath(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0]!;
  return path.startsWith(WEBHOOK_PREFIX) ? `${WEBHOOK_PREFIX}[redacted]` : path;
}
