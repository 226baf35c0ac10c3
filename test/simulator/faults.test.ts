import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { caller, connect, token, type Caller, type Row } from './helpers.js';

let sim: Simulator;
let call: Caller;
let bearer: string;

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 300, seed: 8 }));
  bearer = await token(sim);
});
afterEach(() => {
  sim.setFaults('global', null);
  for (const key of ['GET client/', 'GET patient/', 'PATCH client/<id>/']) sim.setFaults(key, null);
});
afterAll(() => sim.close());

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** How the exchange ended: 'end' (complete), 'aborted' (cut mid-body) or 'error' (no answer). */
  ending: 'end' | 'aborted' | 'error';
  ms: number;
}

/** One request on a fresh connection, reporting how it ended instead of throwing. */
function raw(path: string): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      `${sim.baseUrl}${path}`,
      { headers: { Authorization: `Bearer ${bearer}` }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const done = (ending: RawAnswer['ending']) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ending,
            ms: performance.now() - started,
          });
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done(res.complete ? 'end' : 'aborted'));
        res.on('aborted', () => done('aborted'));
        res.on('error', () => done('aborted'));
      },
    );
    req.on('error', () =>
      resolve({ status: 0, headers: {}, body: Buffer.alloc(0), ending: 'error', ms: performance.now() - started }),
    );
    req.end();
  });
}

describe('faults', () => {
  it('are off by default', async () => {
    for (let i = 0; i < 20; i++) expect((await raw('client/?page_size=200')).ending).toBe('end');
  });

  it('latencyMs delays the answer', async () => {
    sim.setFaults('GET client/', { latencyMs: 300 });
    expect((await raw('client/')).ms).toBeGreaterThanOrEqual(290);
    expect((await raw('patient/')).ms).toBeLessThan(250);
  });

  it('errorRate answers 500/502/503 with a non-JSON page', async () => {
    sim.setFaults('global', { errorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const answer = await raw('client/');
      expect(answer.ending).toBe('end');
      expect(answer.headers['content-type']).toMatch(/text\/html/);
      statuses.add(answer.status);
    }
    expect([...statuses].sort()).toEqual([500, 502, 503]);
  });

  it('a share of errors follows the seed: the same requests fail the same way every run', async () => {
    const runs: string[] = [];
    for (let run = 0; run < 2; run++) {
      const other = await startSimulator({ clients: 10, seed: 4 });
      try {
        other.setFaults('GET client/', { errorRate: 0.3 });
        const get = caller(other, { Authorization: `Bearer ${await token(other)}` });
        const statuses: number[] = [];
        for (let i = 0; i < 40; i++) statuses.push((await get('GET', 'client/')).status);
        runs.push(statuses.join(','));
        const failures = statuses.filter((s) => s >= 500).length;
        expect(failures).toBeGreaterThan(4);
        expect(failures).toBeLessThan(24);
      } finally {
        await other.close();
      }
    }
    expect(runs[1]).toBe(runs[0]);
  });

  it('dropRate destroys the connection without an answer (after the write was applied)', async () => {
    sim.setFaults('GET patient/', { dropRate: 1 });
    expect((await raw('patient/')).ending).toBe('error');
    expect((await raw('client/')).ending).toBe('end');
    sim.setFaults('PATCH client/<id>/', { dropRate: 1 });
    await expect(call('PATCH', 'client/2/', { remarks: 'lost answer' })).rejects.toThrow();
    expect((await call<Row>('GET', 'client/2/')).body.remarks).toBe('lost answer');
  });

  it('truncateRate announces the full Content-Length but sends part of the body', async () => {
    sim.setFaults('GET client/', { truncateRate: 1 });
    const answer = await raw('client/?page_size=100');
    expect(answer.status).toBe(200);
    expect(answer.ending).toBe('aborted');
    const announced = Number(answer.headers['content-length']);
    expect(answer.body.length).toBeGreaterThan(0);
    expect(answer.body.length).toBeLessThan(announced);
    expect(() => JSON.parse(answer.body.toString('utf8')) as unknown).toThrow();
    await expect(call('GET', 'client/?page_size=100')).rejects.toThrow();
  });

  it('slowBodyMs dribbles a complete body out over that long', async () => {
    sim.setFaults('GET client/', { slowBodyMs: 500 });
    const answer = await raw('client/?page_size=100');
    expect(answer.ending).toBe('end');
    expect(answer.ms).toBeGreaterThanOrEqual(400);
    expect((JSON.parse(answer.body.toString('utf8')) as { results: unknown[] }).results).toHaveLength(100);
  });

  it('endpoint settings override global ones; null clears them', async () => {
    sim.setFaults('global', { errorRate: 1 });
    sim.setFaults('GET patient/', { errorRate: 0 });
    expect((await raw('patient/')).status).toBe(200);
    expect((await raw('client/')).status).toBeGreaterThanOrEqual(500);
    sim.setFaults('global', null);
    expect((await raw('client/')).status).toBe(200);
  });

  it('count faulted requests under their endpoint', async () => {
    sim.resetRequestCounts();
    sim.setFaults('GET client/', { errorRate: 1 });
    await raw('client/');
    await raw('client/');
    expect(sim.requestCounts()['GET client/']).toBe(2);
  });
});
