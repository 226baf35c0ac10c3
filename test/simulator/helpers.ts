// Talks to a running simulator over real HTTP, the way a sync client would.
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';

interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface ListPage<T = Record<string, unknown>> {
  count: number;
  num_pages: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export type Row = Record<string, unknown> & { id: number };

export async function token(sim: Simulator): Promise<string> {
  const res = await fetch(sim.tokenUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials',
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A started simulator plus an authenticated request helper; close() in afterAll. */
export async function connect(options: SimulatorOptions = {}): Promise<{ sim: Simulator; call: Caller }> {
  const sim = await startSimulator(options);
  const bearer = await token(sim);
  return { sim, call: caller(sim, { Authorization: `Bearer ${bearer}` }) };
}

export type Caller = <T = unknown>(method: string, pathOrUrl: string, body?: unknown) => Promise<Answer<T>>;

export function caller(sim: Simulator, headers: Record<string, string>): Caller {
  return async <T>(method: string, pathOrUrl: string, body?: unknown): Promise<Answer<T>> => {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${sim.baseUrl}${pathOrUrl}`;
    const res = await fetch(url, {
      method,
      headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (fault pages, empty bodies): keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };
}

/** GET a list and return its page, failing loudly on anything but 200. */
export async function list<T = Row>(call: Caller, path: string): Promise<ListPage<T>> {
  const answer = await call<ListPage<T>>('GET', path);
  if (answer.status !== 200) throw new Error(`GET ${path} answered ${answer.status}: ${answer.text}`);
  return answer.body;
}

/** Every row of a list, following `next`. */
export async function all<T = Row>(call: Caller, path: string): Promise<T[]> {
  const rows: T[] = [];
  let next: string | null = path;
  while (next) {
    const page: ListPage<T> = await list<T>(call, next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}

export function ids(rows: readonly { id: number }[]): number[] {
  return rows.map((r) => r.id);
}

export function idOf(url: unknown): number {
  const match = /\/(\d+)\/$/.exec(String(url));
  if (!match) throw new Error(`not a record URL: ${String(url)}`);
  return Number(match[1]);
}

/** A string field's value, '' for null or anything else. */
export function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
