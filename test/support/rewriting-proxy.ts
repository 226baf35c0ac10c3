// A real HTTP proxy on loopback in front of the simulator that can answer for it or rewrite its
// bodies: how the tests make a front end that redirects, loops `next` links, or points them away.
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RewritingProxy {
  /** The simulator's API base URL, reached through the proxy. */
  baseUrl: string;
  close(): Promise<void>;
}

export interface ProxyBehaviour {
  /** Answer directly instead of forwarding (return true when answered). */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Called for every request before it is forwarded (after `intercept`); the request waits for it. */
  beforeForward?: (req: IncomingMessage) => void | Promise<void>;
  /** Rewrite a forwarded body. */
  rewrite?: (body: string) => string;
}

export async function startRewritingProxy(apiBaseUrl: string, behaviour: ProxyBehaviour): Promise<RewritingProxy> {
  const target = new URL(apiBaseUrl);
  const server = createServer((req, res) => {
    if (behaviour.intercept?.(req, res)) return;
    if (behaviour.beforeForward) {
      // Hold the body until the hook is done; it flows on when piped below.
      req.pause();
      void Promise.resolve(behaviour.beforeForward(req)).then(
        () => forward(req, res),
        () => res.destroy(),
      );
      return;
    }
    forward(req, res);
  });

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = (behaviour.rewrite ?? ((b: string) => b))(Buffer.concat(chunks).toString('utf8'));
          res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(Buffer.byteLength(body)) });
          res.end(body);
        });
      },
    );
    // A reset on either side must not become an unhandled 'error' that kills the test worker.
    upstream.on('error', () => res.destroy());
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
    req.resume();
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: apiBaseUrl.replace(`:${target.port}/`, `:${port}/`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
