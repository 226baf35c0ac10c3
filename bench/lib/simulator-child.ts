// The simulator's own process for the benchmark: it must not share the sync's event loop (the
// machine may have only two cores). The parent drives it over IPC (see simulator-process.ts):
// faults, clock, rate-limit resets, the scenario's change set, and a request tap.
//
// The tap counts every API request by endpoint key with its budget cost (page_size / 50,
// at most 20) and its status. It sits on http.Server's 'request' event, so it measures what
// reached the server, independently of the sync's own accounting.
import http from 'node:http';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { endpointOf, requestCost, type TapCounts } from './budget.js';

export type ChildRequest =
  | { op: 'start'; options: SimulatorOptions }
  | { op: 'faults'; latencyMs: number }
  | { op: 'clock'; offsetMs: number }
  | { op: 'reset' }
  | { op: 'tap' }
  | { op: 'mutate'; changes: ChangeSet }
  | { op: 'stop' };

/** Ids chosen by the parent from the mirror, so the change set's effects are known in advance. */
export interface ChangeSet {
  archiveClients: number[];
  valueClients: number[];
  editClients: number[];
  archivePatients: number[];
  valuePatients: number[];
  editPatients: number[];
}

let tap: TapCounts = {};
let apiPrefix = '';

function record(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '';
  if (!url.startsWith(apiPrefix)) return; // admin and token routes are not API budget
  const [path = '', query = ''] = url.slice(apiPrefix.length).split('?', 2);
  const key = endpointOf(req.method ?? 'GET', path);
  const pageSize = Number(new URLSearchParams(query).get('page_size'));
  res.once('finish', () => {
    const entry = (tap[key] ??= { requests: 0, costUnits: 0, throttled: 0 });
    if (res.statusCode === 429) {
      entry.throttled++;
    } else {
      entry.requests++;
      entry.costUnits += requestCost(pageSize);
    }
  });
}

const prototype = http.Server.prototype as {
  emit: (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
};
const originalEmit = prototype.emit;
prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'request') record(args[0] as http.IncomingMessage, args[1] as http.ServerResponse);
  return originalEmit.call(this, event, ...args);
};

function mutate(sim: Simulator, changes: ChangeSet): number {
  // A PATCH with fields_rel replaces the record's set of values: some change, the others go.
  const edits: [ids: number[], apply: (id: number) => unknown][] = [
    [changes.archiveClients, (id) => sim.updateClient(id, { archived: true })],
    [
      changes.valueClients,
      (id) =>
        sim.updateClient(id, {
          fields_rel: [
            { field_id: 41, value: `bench referral ${id}` },
            { field_id: 44, value: true },
          ],
        }),
    ],
    [changes.editClients, (id) => sim.updateClient(id, { city: 'Benchville', email: `bench-${id}@example.com` })],
    [changes.archivePatients, (id) => sim.updatePatient(id, { archived: true })],
    [
      changes.valuePatients,
      (id) =>
        sim.updatePatient(id, {
          fields_rel: [
            { field_id: 51, value: 'calm under benchmark' },
            { field_id: 54, value: false },
          ],
        }),
    ],
    [changes.editPatients, (id) => sim.updatePatient(id, { name: `Bench ${id}` })],
  ];
  let n = 0;
  for (const [ids, apply] of edits) {
    for (const id of ids) {
      apply(id);
      n++;
    }
  }
  return n;
}

let sim: Simulator | null = null;

process.on('message', (message: ChildRequest & { id: number }) => {
  const reply = (value: unknown) => process.send?.({ id: message.id, value });
  const fail = (err: unknown) =>
    process.send?.({ id: message.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  void (async () => {
    switch (message.op) {
      case 'start': {
        const started = performance.now();
        sim = await startSimulator(message.options);
        apiPrefix = new URL(sim.baseUrl).pathname;
        return {
          baseUrl: sim.baseUrl,
          clientId: sim.clientId,
          clientSecret: sim.clientSecret,
          startupMs: performance.now() - started,
        };
      }
      case 'faults':
        sim!.setFaults('global', message.latencyMs > 0 ? { latencyMs: message.latencyMs } : null);
        return true;
      case 'clock':
        sim!.setClockOffset(message.offsetMs);
        return sim!.now().toISOString();
      case 'reset':
        sim!.resetRateLimits();
        tap = {};
        return true;
      case 'tap':
        return tap;
      case 'mutate':
        return mutate(sim!, message.changes);
      case 'stop':
        await sim?.close();
        setImmediate(() => process.exit(0));
        return true;
    }
  })().then(reply, fail);
});
