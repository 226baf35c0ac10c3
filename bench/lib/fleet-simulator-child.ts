// The fleet benchmark's simulators, all in one child process of their own so that they do not
// take the measured workers' event loops (the machine has two cores): one startSimulator per
// installation, each on its own port with its own provet id and client secret. The parent
// (fleet-simulators.ts) drives it over IPC: start the installations, change a client with a
// marker (the time of the change is taken here, on the same clock PostgreSQL's now() reads), slow
// one installation down, stop.
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';

export interface FleetSiteSpec {
  name: string;
  provetId: string;
  clients: number;
  seed: number;
  clientSecret: string;
  /** The compressed rate window, or none (no 429s). */
  rateWindowMs?: number;
  /** renderCacheBytes (the large installation's backfill re-reads nothing; keep the default). */
  renderCacheBytes?: number;
}

export interface FleetSiteStarted {
  name: string;
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Ids of live clients to change, in order (at most 400). */
  clientIds: number[];
}

export type FleetChildRequest =
  | { op: 'start'; sites: FleetSiteSpec[] }
  | { op: 'touch'; name: string; clientId: number; city: string }
  | { op: 'latency'; name: string; latencyMs: number }
  | { op: 'stop' };

const sims = new Map<string, Simulator>();

async function start(spec: FleetSiteSpec): Promise<FleetSiteStarted> {
  const options: SimulatorOptions = {
    clients: spec.clients,
    seed: spec.seed,
    provetId: spec.provetId,
    clientId: `bench-${spec.name}`,
    clientSecret: spec.clientSecret,
    ...(spec.rateWindowMs ? { rateLimit: { windowMs: spec.rateWindowMs } } : {}),
    ...(spec.renderCacheBytes !== undefined ? { renderCacheBytes: spec.renderCacheBytes } : {}),
  };
  const sim = await startSimulator(options);
  sims.set(spec.name, sim);
  const clientIds: number[] = [];
  if (spec.clients <= 5_000) {
    for (const c of sim.exportState().clients) {
      if (clientIds.length >= 400) break;
      if (c.archived !== true) clientIds.push(Number(c.id));
    }
  }
  return { name: spec.name, baseUrl: sim.baseUrl, clientId: sim.clientId, clientSecret: sim.clientSecret, clientIds };
}

function simOf(name: string): Simulator {
  const sim = sims.get(name);
  if (!sim) throw new Error(`no simulator ${name}`);
  return sim;
}

process.on('message', (message: FleetChildRequest & { id: number }) => {
  const reply = (value: unknown) => process.send?.({ id: message.id, value });
  const fail = (err: unknown) =>
    process.send?.({ id: message.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  void (async () => {
    switch (message.op) {
      case 'start': {
        const started: FleetSiteStarted[] = [];
        for (const spec of message.sites) started.push(await start(spec));
        return started;
      }
      case 'touch': {
        simOf(message.name).updateClient(message.clientId, { city: message.city });
        return Date.now();
      }
      case 'latency':
        simOf(message.name).setFaults('global', message.latencyMs > 0 ? { latencyMs: message.latencyMs } : null);
        return true;
      case 'stop':
        await Promise.all([...sims.values()].map((s) => s.close()));
        setImmediate(() => process.exit(0));
        return true;
    }
  })().then(reply, fail);
});
// The parent went away without a stop: go too.
process.on('disconnect', () => process.exit(0));
