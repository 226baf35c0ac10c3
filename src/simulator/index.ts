// A stand-in Provet Cloud installation on a loopback port, for the demo, the tests and the
// benchmarks. It reads the same documents as the product but imports nothing from it, so a
// misreading of the API shows up as a failing test instead of being shared by both sides.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin } from './admin.js';
import { Api } from './api.js';
import { Auth } from './auth.js';
import { BREEDS, CUSTOM_FIELDS, SPECIES } from './catalog.js';
import { NotFoundError, ValidationError } from './errors.js';
import { Faults } from './faults.js';
import { DEFAULT_WINDOW_MS, RateLimiter } from './limits.js';
import { parseQuirks, type QuirkSettings } from './quirks.js';
import { Renderer } from './render.js';
import { seedData } from './seed.js';
import { RequestCounts, requestHandler } from './server.js';
import { Store } from './store.js';
import { SimulatorClock, parseDateTime, parseUtcOffset } from './time.js';
import type { Simulator } from './types.js';
import { parseClientInput, parsePatientInput, parsePhoneInput, parseValueInput } from './validate.js';

export type { FaultSettings } from './faults.js';
export type { QuirkSettings } from './quirks.js';
export type { Simulator } from './types.js';
export { DEFAULT_RATE_LIMITS, DEFAULT_WINDOW_MS } from './limits.js';

export interface SimulatorOptions {
  /** Seeded clients (default 100; the CLI's default is 1000). */
  clients?: number;
  seed?: number;
  /** Default '127.0.0.1': the simulator is meant for loopback only. */
  host?: string;
  /** Default 0, a free port. */
  port?: number;
  provetId?: string;
  clientId?: string;
  /** A demo credential, not a secret. */
  clientSecret?: string;
  /** When set, `Authorization: Token <it>` is accepted as well. */
  legacyToken?: string | null;
  tokenLifetimeSeconds?: number;
  /** The installation's UTC offset for rendered timestamps, e.g. '+02:00'. */
  utcOffset?: string;
  /** Off by default in-process. Keys like 'GET client/', 'GET patient/<id>/'. */
  rateLimit?: false | { windowMs?: number; limits?: Partial<Record<string, number>> };
  /** Simulator clock = machine clock + this. */
  clockOffsetMs?: number;
  /**
   * Bytes of rendered list records kept for re-reads until the next change (default 64 MiB; 0
   * renders every time). The benchmark raises it so the simulator takes little of the CPU the
   * measured client runs on.
   */
  renderCacheBytes?: number;
  /** How this installation departs from the documented API (docs/simulator.md, "Quirks"). */
  quirks?: QuirkSettings;
  behaviour?: {
    /** Default false: patients archived by their client's archiving keep their old modified. */
    archiveCascadeMovesPatientModified?: boolean;
    /** Default false: a phone number change leaves the client's modified alone. */
    phoneChangeMovesClientModified?: boolean;
    /** Default false: a nested custom_field_values POST leaves the record's modified alone. */
    customValueChangeMovesModified?: boolean;
  };
}

type Json = Record<string, unknown>;

function checkOptions(options: SimulatorOptions): void {
  const problems: string[] = [];
  const { clients = 100, seed = 1, port = 0, tokenLifetimeSeconds = 36000 } = options;
  if (!Number.isInteger(clients) || clients < 0 || clients > 5_000_000)
    problems.push('clients must be an integer from 0 to 5,000,000');
  if (!Number.isInteger(seed)) problems.push('seed must be an integer');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push('port must be an integer from 0 to 65535');
  if (!(tokenLifetimeSeconds > 0)) problems.push('tokenLifetimeSeconds must be positive');
  if (parseUtcOffset(options.utcOffset ?? '+02:00') === null)
    problems.push('utcOffset must look like +02:00, -04:00 or Z');
  if (!/^[A-Za-z0-9_-]+$/.test(options.provetId ?? '1234')) problems.push('provetId must be letters, digits, _ or -');
  if (options.rateLimit && options.rateLimit.windowMs !== undefined && !(options.rateLimit.windowMs > 0)) {
    problems.push('rateLimit.windowMs must be positive');
  }
  if (options.quirks) {
    try {
      parseQuirks(options.quirks);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new Error(`invalid simulator options: ${problems.join('; ')}`);
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  checkOptions(options);
  const seed = options.seed ?? 1;
  const host = options.host ?? '127.0.0.1';
  const provetId = options.provetId ?? '1234';
  const offsetMinutes = parseUtcOffset(options.utcOffset ?? '+02:00')!;
  const clock = new SimulatorClock(options.clockOffsetMs ?? 0);
  const store = new Store(seedData(seed, options.clients ?? 100), clock, {
    archiveCascadeMovesPatientModified: options.behaviour?.archiveCascadeMovesPatientModified ?? false,
    phoneChangeMovesClientModified: options.behaviour?.phoneChangeMovesClientModified ?? false,
    customValueChangeMovesModified: options.behaviour?.customValueChangeMovesModified ?? false,
  });
  const auth = new Auth(
    {
      clientId: options.clientId ?? 'provet-sync-demo',
      clientSecret: options.clientSecret ?? 'demo-secret',
      legacyToken: options.legacyToken ?? null,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 36000,
    },
    clock,
  );
  const faults = new Faults(seed);
  const limiter = options.rateLimit
    ? new RateLimiter(options.rateLimit.windowMs ?? DEFAULT_WINDOW_MS, options.rateLimit.limits)
    : null;
  const counts = new RequestCounts();

  // The API and the renderer need the listening port for their absolute URLs.
  let api: Api | null = null;
  let simulator: Simulator | null = null;
  const server = createServer(
    { keepAlive: true },
    requestHandler({
      provetId,
      clock,
      auth,
      faults,
      limiter,
      counts,
      api: () => api!,
      admin: (method, path, body) => handleAdmin(simulator!, method, path, body),
    }),
  );
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const origin = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const baseUrl = `${origin}/${provetId}/api/0.1/`;
  const render = new Renderer(store, baseUrl, offsetMinutes);
  api = new Api(store, render, origin, options.renderCacheBytes);
  if (options.quirks) api.quirks = parseQuirks(options.quirks);
  const exists = (kind: 'client' | 'patient', id: number) => store.exists(kind, id);
  const liveIds = (table: typeof store.clients) => {
    const ids: number[] = [];
    for (let id = 1; id <= table.maxId; id++) if (table.exists(id)) ids.push(id);
    return ids;
  };
  let closed: Promise<void> | null = null;

  simulator = {
    baseUrl,
    tokenUrl: `${origin}/${provetId}/oauth2/token/`,
    adminUrl: `${origin}/__admin/`,
    clientId: auth.options.clientId,
    clientSecret: auth.options.clientSecret,
    legacyToken: auth.options.legacyToken,
    now: () => clock.now(),
    setClockOffset: (ms) => clock.setOffset(ms),
    createClient: (fields) => render.client(store.createClient(parseClientInput(fields, exists, true))) as Json,
    updateClient(id, patch) {
      if (!store.exists('client', id)) throw new NotFoundError(`client ${id}`);
      store.updateClient(id, parseClientInput(patch, exists, false));
      return render.client(id) as Json;
    },
    createPatient: (fields) => render.patient(store.createPatient(parsePatientInput(fields, exists, true))) as Json,
    updatePatient(id, patch) {
      if (!store.exists('patient', id)) throw new NotFoundError(`patient ${id}`);
      store.updatePatient(id, parsePatientInput(patch, exists, false, store.patient(id).species_code));
      return render.patient(id) as Json;
    },
    setCustomFieldValue(objectType, objectId, fieldId, value) {
      if (!store.exists(objectType, objectId)) throw new NotFoundError(`${objectType} ${objectId}`);
      store.setValue(objectType, objectId, parseValueInput({ field_id: fieldId, value }, objectType));
    },
    removeCustomFieldValue(objectType, objectId, fieldId) {
      if (!store.exists(objectType, objectId)) throw new NotFoundError(`${objectType} ${objectId}`);
      store.removeValue(objectType, objectId, fieldId);
    },
    addPhoneNumber: (clientId, fields) =>
      render.phone(store.addPhone(parsePhoneInput({ ...fields, client: clientId }, exists, true))),
    updatePhoneNumber(id, patch) {
      if (!store.phones.exists(id)) throw new NotFoundError(`phone number ${id}`);
      store.updatePhone(id, parsePhoneInput(patch, exists, false));
      return render.phone(id);
    },
    removePhoneNumber: (id) => store.removePhone(id),
    deleteClient: (id) => store.deleteClient(id),
    setRecordRaw: (kind, id, raw) => store.setRaw(kind, id, raw),
    touchRecords(kind, ids, modified) {
      const micros = typeof modified === 'string' ? parseDateTime(modified, offsetMinutes) : modified.getTime() * 1000;
      if (micros === null || !Number.isFinite(micros))
        throw new ValidationError({ modified: ['Unparseable datetime.'] });
      store.touch(kind, ids, micros);
    },
    setQuirks(quirks) {
      api.quirks = parseQuirks(quirks);
    },
    setFaults: (scope, settings) => faults.set(scope, settings),
    requestCounts: () => counts.snapshot(),
    resetRequestCounts: () => counts.reset(),
    resetRateLimits: () => limiter?.reset(),
    exportState: () => ({
      clients: liveIds(store.clients).map((id) => render.client(id) as Json),
      patients: liveIds(store.patients).map((id) => render.patient(id) as Json),
      phoneNumbers: liveIds(store.phones).map((id) => render.phone(id)),
      customFields: CUSTOM_FIELDS.map((f) => render.customField(f)),
      species: SPECIES.map((s) => render.species(s)),
      breeds: BREEDS.map((b) => render.breed(b)),
    }),
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
  return simulator;
}
