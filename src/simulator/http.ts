// Writing answers: every one carries a Date header from the simulator's clock (node's own
// is switched off), and a fault plan may cut, delay or drop it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultPlan } from './faults.js';
import type { SimulatorClock } from './time.js';

export interface Reply {
  status: number;
  /** Serialized body; '' for none. */
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(body), headers };
}

/** The kind of page a gateway in front of the application answers with: not JSON. */
export function gatewayError(status: number): Reply {
  const text =
    status === 500 ? 'Server Error (500)' : status === 502 ? '502 Bad Gateway' : '503 Service Temporarily Unavailable';
  return {
    status,
    body: `<html><head><title>${text}</title></head><body><h1>${text}</h1></body></html>\n`,
    contentType: 'text/html; charset=utf-8',
  };
}

const MAX_BODY_BYTES = 20 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function sendReply(
  res: ServerResponse,
  reply: Reply,
  clock: SimulatorClock,
  plan: FaultPlan,
): Promise<void> {
  if (plan.drop) {
    res.socket?.destroy();
    return;
  }
  res.sendDate = false;
  res.statusCode = reply.status;
  res.setHeader('Date', clock.now().toUTCString());
  if (reply.status !== 204) {
    res.setHeader('Content-Type', reply.contentType ?? 'application/json');
    res.setHeader('Content-Length', typeof reply.body === 'string' ? Buffer.byteLength(reply.body) : reply.body.length);
  }
  res.setHeader('Vary', 'Accept, Authorization');
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  if (reply.status === 204) {
    res.end();
    return;
  }

  if (!plan.truncate && plan.slowBodyMs === 0) {
    // A string is handed over as it is: node encodes it straight into the socket's buffer.
    res.end(reply.body);
    return;
  }
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
  if (plan.truncate && body.length > 1) {
    // The announced length is the full one: a client must notice the body ended early.
    const cut = Math.max(1, Math.floor(body.length / 2));
    res.write(body.subarray(0, cut), () => res.socket?.destroy());
    return;
  }
  if (plan.slowBodyMs > 0) {
    const pieces = 10;
    const step = Math.ceil(body.length / pieces);
    res.flushHeaders();
    for (let offset = 0; offset < body.length; offset += step) {
      // Waiting before each piece makes the last byte arrive after the whole slowBodyMs.
      await sleep(plan.slowBodyMs / pieces);
      if (res.destroyed) return;
      res.write(body.subarray(offset, offset + step));
    }
    res.end();
    return;
  }
  res.end(body);
}
