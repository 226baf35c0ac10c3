// The control surface over HTTP, under /__admin/ (no auth, loopback clients only): the
// same operations as the in-process Simulator API, for tests and scenarios in another
// process. Bodies and answers are JSON.
import { NotFoundError, ValidationError } from './errors.js';
import type { FaultSettings } from './faults.js';
import { json, type Reply } from './http.js';
import type { Simulator } from './types.js';

const ROUTES = [
  'GET  /__admin/requests                      request counts per endpoint key',
  'POST /__admin/requests/reset                zero the counts',
  'POST /__admin/rate-limits/reset             empty the rate-limit windows',
  'POST /__admin/faults                        {"scope": "global" | "GET client/", "faults": {...} | null}',
  'POST /__admin/quirks                        {"ignoredParameters": ["id__gt", ...], "defaultOrdering": "id" | "-id" | ...}',
  'GET  /__admin/clock                         {"now", "offsetMs"}',
  'POST /__admin/clock                         {"offsetMs": n}',
  'GET  /__admin/state                         every record as GET renders it (large)',
  'POST /__admin/clients                       create a client (API fields)',
  'PATCH /__admin/clients/<id>                 update a client (as PATCH client/<id>/)',
  'POST /__admin/clients/<id>/delete           hard delete, as the UI can',
  'POST /__admin/patients                      create a patient',
  'PATCH /__admin/patients/<id>                update a patient',
  'POST /__admin/phonenumbers                  {"client": id, "phone_number", "type_code"?, "description"?}',
  'PATCH /__admin/phonenumbers/<id>            update a phone number',
  'DELETE /__admin/phonenumbers/<id>           remove a phone number',
  'POST /__admin/custom_field_values           {"objectType", "objectId", "fieldId", "value"} (as the nested POST)',
  'DELETE /__admin/custom_field_values         {"objectType", "objectId", "fieldId"} (as a PATCH without it)',
  'POST /__admin/touch                         {"kind", "ids": [..], "modified": "2024-01-01T00:00:00.000001+02:00"}',
  "PUT  /__admin/raw/<client|patient>/<id>     replace the record's rendered JSON verbatim",
];

type Body = Record<string, unknown>;

function parse(body: string): Body {
  if (body === '') return {};
  const data = JSON.parse(body) as unknown;
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new ValidationError({ detail: 'Expected a JSON object.' });
  return data as Body;
}

const FAULT_KEYS = ['latencyMs', 'errorRate', 'dropRate', 'truncateRate', 'slowBodyMs'] as const;

function faultSettings(value: unknown): FaultSettings | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError({ faults: ['Expected an object or null.'] });
  const settings: FaultSettings = {};
  for (const [key, number] of Object.entries(value)) {
    const known = FAULT_KEYS.find((k) => k === key);
    if (!known || typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
      throw new ValidationError({ faults: [`${key}: expected one of ${FAULT_KEYS.join(', ')} with a number >= 0.`] });
    }
    settings[known] = number;
  }
  return settings;
}

function kindOf(value: unknown): 'client' | 'patient' {
  if (value === 'client' || value === 'patient') return value;
  throw new ValidationError({ kind: ['Must be "client" or "patient".'] });
}

export function handleAdmin(sim: Simulator, method: string, path: string, text: string): Promise<Reply> {
  try {
    return Promise.resolve(route(sim, method, path.replace(/\/+$/, ''), text));
  } catch (error) {
    if (error instanceof ValidationError) return Promise.resolve(json(400, error.errors));
    if (error instanceof NotFoundError) return Promise.resolve(json(404, { detail: error.message }));
    if (error instanceof SyntaxError)
      return Promise.resolve(json(400, { detail: `JSON parse error - ${error.message}` }));
    throw error;
  }
}

function route(sim: Simulator, method: string, path: string, text: string): Reply {
  const ok = { ok: true };
  const id = Number(/\/(\d+)(?:\/delete)?$/.exec(path)?.[1]);
  const signature = `${method} ${path.replace(/\/\d+/, '/<id>')}`;
  switch (signature) {
    case 'GET /__admin':
      return json(200, { routes: ROUTES });
    case 'GET /__admin/requests':
      return json(200, sim.requestCounts());
    case 'POST /__admin/requests/reset':
      sim.resetRequestCounts();
      return json(200, ok);
    case 'POST /__admin/rate-limits/reset':
      sim.resetRateLimits();
      return json(200, ok);
    case 'POST /__admin/faults': {
      const body = parse(text);
      if (typeof body.scope !== 'string')
        throw new ValidationError({ scope: ['Required: "global" or an endpoint key.'] });
      sim.setFaults(body.scope, faultSettings(body.faults));
      return json(200, ok);
    }
    case 'POST /__admin/quirks': {
      const body = parse(text);
      try {
        sim.setQuirks(body);
      } catch (error) {
        if (error instanceof RangeError) throw new ValidationError({ detail: error.message });
        throw error;
      }
      return json(200, ok);
    }
    case 'GET /__admin/clock':
      return json(200, { now: sim.now().toISOString(), offsetMs: sim.now().getTime() - Date.now() });
    case 'POST /__admin/clock': {
      const body = parse(text);
      if (typeof body.offsetMs !== 'number' || !Number.isFinite(body.offsetMs))
        throw new ValidationError({ offsetMs: ['A number is required.'] });
      sim.setClockOffset(body.offsetMs);
      return json(200, { now: sim.now().toISOString() });
    }
    case 'GET /__admin/state':
      return json(200, sim.exportState());
    case 'POST /__admin/clients':
      return json(201, sim.createClient(parse(text)));
    case 'PATCH /__admin/clients/<id>':
      return json(200, sim.updateClient(id, parse(text)));
    case 'POST /__admin/clients/<id>/delete':
      sim.deleteClient(id);
      return json(200, ok);
    case 'POST /__admin/patients':
      return json(201, sim.createPatient(parse(text)));
    case 'PATCH /__admin/patients/<id>':
      return json(200, sim.updatePatient(id, parse(text)));
    case 'POST /__admin/phonenumbers': {
      const { client, ...fields } = parse(text);
      return json(201, sim.addPhoneNumber(Number(client), fields as { phone_number: string }));
    }
    case 'PATCH /__admin/phonenumbers/<id>':
      return json(200, sim.updatePhoneNumber(id, parse(text)));
    case 'DELETE /__admin/phonenumbers/<id>':
      sim.removePhoneNumber(id);
      return json(200, ok);
    case 'POST /__admin/custom_field_values': {
      const body = parse(text);
      sim.setCustomFieldValue(kindOf(body.objectType), Number(body.objectId), Number(body.fieldId), body.value);
      return json(200, ok);
    }
    case 'DELETE /__admin/custom_field_values': {
      const body = parse(text);
      sim.removeCustomFieldValue(kindOf(body.objectType), Number(body.objectId), Number(body.fieldId));
      return json(200, ok);
    }
    case 'POST /__admin/touch': {
      const body = parse(text);
      if (!Array.isArray(body.ids) || typeof body.modified !== 'string') {
        throw new ValidationError({ detail: 'Expected {"kind", "ids": [..], "modified": "<datetime>"}.' });
      }
      sim.touchRecords(kindOf(body.kind), body.ids.map(Number), body.modified);
      return json(200, ok);
    }
    default: {
      const raw = /^PUT \/__admin\/raw\/(client|patient)\/(\d+)$/.exec(`${method} ${path}`);
      if (raw) {
        sim.setRecordRaw(raw[1] as 'client' | 'patient', Number(raw[2]), parse(text));
        return json(200, ok);
      }
      return json(404, { detail: 'Not found.', routes: ROUTES });
    }
  }
}
