// The REST resources under /<provet_id>/api/0.1/: routing to an endpoint key (the unit of
// rate limits, faults and request counts) and the reads and writes the guide documents.
import { BREEDS, CUSTOM_FIELDS, SPECIES } from './catalog.js';
import { NotFoundError, ValidationError } from './errors.js';
import { fieldSpecs, matchingIds, parseFilters, type Condition, type ListKind } from './filters.js';
import { json, type Reply } from './http.js';
import type { RecordKind } from './model.js';
import { applyOrdering, firstIndexAbove, parseOrdering } from './ordering.js';
import { choosePage, PageWriter } from './pagination.js';
import { NO_QUIRKS, type ApiQuirks } from './quirks.js';
import type { Renderer } from './render.js';
import type { Store } from './store.js';
import { parseClientInput, parsePatientInput, parsePhoneInput, parseValueInput, type Exists } from './validate.js';

interface RouteSpec {
  pattern: RegExp;
  template: string;
  methods: readonly string[];
  list: boolean;
}

const ROUTES: readonly RouteSpec[] = [
  { pattern: /^client\/$/, template: 'client/', methods: ['GET', 'POST'], list: true },
  { pattern: /^client\/(\d+)\/$/, template: 'client/<id>/', methods: ['GET', 'PATCH'], list: false },
  {
    pattern: /^client\/(\d+)\/custom_field_values\/$/,
    template: 'client/<id>/custom_field_values/',
    methods: ['GET', 'POST'],
    list: true,
  },
  { pattern: /^patient\/$/, template: 'patient/', methods: ['GET', 'POST'], list: true },
  { pattern: /^patient\/bulk\/$/, template: 'patient/bulk/', methods: ['POST'], list: false },
  { pattern: /^patient\/(\d+)\/$/, template: 'patient/<id>/', methods: ['GET', 'PATCH'], list: false },
  {
    pattern: /^patient\/(\d+)\/custom_field_values\/$/,
    template: 'patient/<id>/custom_field_values/',
    methods: ['GET', 'POST'],
    list: true,
  },
  { pattern: /^phonenumber\/$/, template: 'phonenumber/', methods: ['GET', 'POST'], list: true },
  {
    pattern: /^phonenumber\/(\d+)\/$/,
    template: 'phonenumber/<id>/',
    methods: ['GET', 'PATCH', 'DELETE'],
    list: false,
  },
  { pattern: /^custom_fields\/$/, template: 'custom_fields/', methods: ['GET'], list: true },
  { pattern: /^codelist\/species\/$/, template: 'codelist/species/', methods: ['GET'], list: true },
  { pattern: /^codelist\/breeds\/$/, template: 'codelist/breeds/', methods: ['GET'], list: true },
];

export interface Route {
  /** e.g. 'GET client/<id>/'; unmatched paths are '<METHOD> (unknown)'. */
  key: string;
  spec: RouteSpec | null;
  id: number | null;
}

export function matchRoute(method: string, apiPath: string): Route {
  for (const spec of ROUTES) {
    const match = spec.pattern.exec(apiPath);
    if (match) return { key: `${method} ${spec.template}`, spec, id: match[1] === undefined ? null : Number(match[1]) };
  }
  return { key: `${method} (unknown)`, spec: null, id: null };
}

export interface ApiRequest {
  method: string;
  route: Route;
  params: URLSearchParams;
  /** The request path, for next/previous links. */
  path: string;
  body: string;
  contentType: string | undefined;
}

const NOT_FOUND = { detail: 'Not found.' };
/** How many recent list results to keep: sequential page reads of one query reuse its ids. */
const CACHED_QUERIES = 8;
/** Typical rendered sizes, so a page's buffer rarely has to grow. */
const ROW_BYTES: Record<ListKind, number> = { client: 1400, patient: 1000, phonenumber: 200 };
/** Default cap on the rendered-record cache (see RenderedRecords). */
const DEFAULT_RENDER_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Records of list pages as rendered JSON (UTF-8), kept until the store changes. A real Provet
 * runs on its own servers; this one shares the machine with the client it serves (in the
 * benchmark, two cores among provet-sync, PostgreSQL and it), so re-reading a page it has served
 * before costs it a copy instead of a render. Any change to the store (store.version) empties the
 * cache, so a cached record is never staler than a fresh render. Past `capBytes`, records are
 * rendered every time.
 */
class RenderedRecords {
  private version = -1;
  private bytes = 0;
  private readonly byKind: Record<ListKind, Map<number, Buffer>> = {
    client: new Map(),
    patient: new Map(),
    phonenumber: new Map(),
  };

  constructor(
    private readonly store: Store,
    private readonly capBytes: number,
  ) {}

  get(kind: ListKind, id: number, render: () => unknown): Buffer {
    if (this.version !== this.store.version) {
      for (const map of Object.values(this.byKind)) map.clear();
      this.bytes = 0;
      this.version = this.store.version;
    }
    const map = this.byKind[kind];
    let json = map.get(id);
    if (json === undefined) {
      json = Buffer.from(JSON.stringify(render()));
      if (this.bytes + json.length <= this.capBytes) {
        map.set(id, json);
        this.bytes += json.length;
      }
    }
    return json;
  }
}

export class Api {
  private readonly specs: Record<ListKind, ReturnType<typeof fieldSpecs>>;
  private readonly queryCache = new Map<string, { version: number; ids: number[] }>();
  private readonly exists: Exists;
  private readonly rendered: RenderedRecords;
  /** How this installation departs from the documented API (ignored parameters, default order). */
  quirks: ApiQuirks = NO_QUIRKS;

  constructor(
    private readonly store: Store,
    private readonly render: Renderer,
    /** scheme://host:port, for next/previous links */
    private readonly origin: string,
    renderCacheBytes = DEFAULT_RENDER_CACHE_BYTES,
  ) {
    this.rendered = new RenderedRecords(store, renderCacheBytes);
    this.specs = {
      client: fieldSpecs(store, 'client'),
      patient: fieldSpecs(store, 'patient'),
      phonenumber: fieldSpecs(store, 'phonenumber'),
    };
    this.exists = (kind, id) => store.exists(kind, id);
  }

  handle(request: ApiRequest): Reply {
    const { method, route } = request;
    if (!route.spec) return json(404, NOT_FOUND);
    if (!route.spec.methods.includes(method)) {
      return json(405, { detail: `Method "${method}" not allowed.` }, { Allow: route.spec.methods.join(', ') });
    }
    try {
      return this.dispatch(request, route.spec.template, route.id ?? 0);
    } catch (error) {
      if (error instanceof ValidationError) return json(400, error.errors);
      if (error instanceof NotFoundError) return json(404, NOT_FOUND);
      throw error;
    }
  }

  private dispatch(request: ApiRequest, template: string, id: number): Reply {
    const { method, params, path } = request;
    const list = (rows: unknown[]) => this.staticList(rows, params, path);
    switch (`${method} ${template}`) {
      case 'GET client/':
        return this.recordList('client', params, path);
      case 'GET patient/':
        return this.recordList('patient', params, path);
      case 'GET phonenumber/':
        return this.recordList('phonenumber', params, path);
      case 'GET client/<id>/':
        return this.detail('client', id);
      case 'GET patient/<id>/':
        return this.detail('patient', id);
      case 'GET phonenumber/<id>/':
        if (!this.store.phones.exists(id)) return json(404, NOT_FOUND);
        return json(200, this.render.phone(id));
      case 'GET custom_fields/':
        return list(CUSTOM_FIELDS.map((f) => this.render.customField(f)));
      case 'GET codelist/species/':
        return list(SPECIES.map((s) => this.render.species(s)));
      case 'GET codelist/breeds/':
        return list(BREEDS.map((b) => this.render.breed(b)));
      case 'GET client/<id>/custom_field_values/':
      case 'GET patient/<id>/custom_field_values/': {
        const kind: RecordKind = template.startsWith('client') ? 'client' : 'patient';
        if (!this.store.exists(kind, id)) return json(404, NOT_FOUND);
        const state = kind === 'client' ? this.store.client(id) : this.store.patient(id);
        return list(state.values.map((v) => this.render.value(v)));
      }
      default:
        return this.write(request, template, id);
    }
  }

  private write(request: ApiRequest, template: string, id: number): Reply {
    const { method } = request;
    const body = this.parseBody(request);
    if ('status' in body) return body;
    const data = body.data;
    const created = (record: unknown) => json(201, record, { Location: (record as { url: string }).url });
    switch (`${method} ${template}`) {
      case 'POST client/':
        return created(this.render.client(this.store.createClient(parseClientInput(data, this.exists, true))));
      case 'PATCH client/<id>/':
        if (!this.store.exists('client', id)) return json(404, NOT_FOUND);
        this.store.updateClient(id, parseClientInput(data, this.exists, false));
        return json(200, this.render.client(id));
      case 'POST patient/':
        return created(this.render.patient(this.store.createPatient(parsePatientInput(data, this.exists, true))));
      case 'PATCH patient/<id>/':
        if (!this.store.exists('patient', id)) return json(404, NOT_FOUND);
        this.store.updatePatient(id, parsePatientInput(data, this.exists, false, this.store.patient(id).species_code));
        return json(200, this.render.patient(id));
      case 'POST patient/bulk/':
        return this.bulkCreate(data, request.params);
      case 'POST client/<id>/custom_field_values/':
      case 'POST patient/<id>/custom_field_values/': {
        const kind: RecordKind = template.startsWith('client') ? 'client' : 'patient';
        if (!this.store.exists(kind, id)) return json(404, NOT_FOUND);
        const result = this.store.setValue(kind, id, parseValueInput(data, kind));
        return json(result.created ? 201 : 200, this.render.value(result.value));
      }
      case 'POST phonenumber/':
        return json(201, this.render.phone(this.store.addPhone(parsePhoneInput(data, this.exists, true))));
      case 'PATCH phonenumber/<id>/':
        if (!this.store.phones.exists(id)) return json(404, NOT_FOUND);
        this.store.updatePhone(id, parsePhoneInput(data, this.exists, false));
        return json(200, this.render.phone(id));
      case 'DELETE phonenumber/<id>/':
        this.store.removePhone(id);
        return { status: 204, body: '' };
      default:
        return json(405, { detail: `Method "${method}" not allowed.` });
    }
  }

  /** JSON bodies only, as DRF's JSONParser; other media types get 415. */
  private parseBody(request: ApiRequest): { data: unknown } | Reply {
    if (request.method === 'DELETE') return { data: null };
    const type = request.contentType?.split(';')[0]?.trim().toLowerCase();
    if (type && type !== 'application/json') {
      return json(415, { detail: `Unsupported media type "${request.contentType}" in request.` });
    }
    try {
      return { data: request.body === '' ? {} : (JSON.parse(request.body) as unknown) };
    } catch (error) {
      return json(400, { detail: `JSON parse error - ${(error as Error).message}` });
    }
  }

  /**
   * The guide: 201 when every patient was created, 400 when none could be (or, without
   * force_push=true, when any failed: then nothing is created), 207 for a partial success.
   */
  private bulkCreate(data: unknown, params: URLSearchParams): Reply {
    if (!Array.isArray(data) || data.length === 0) {
      return json(400, { non_field_errors: ['Expected a non-empty list of patients.'] });
    }
    const forcePush = ['true', 'True', '1'].includes(params.get('force_push') ?? '');
    const checked = data.map((item) => {
      try {
        return { input: parsePatientInput(item, this.exists, true), errors: null };
      } catch (error) {
        if (error instanceof ValidationError) return { input: null, errors: error.errors };
        throw error;
      }
    });
    const failures = checked.filter((c) => c.errors !== null).length;
    if (failures === checked.length || (failures > 0 && !forcePush)) {
      return json(
        400,
        checked.map((c) => c.errors ?? {}),
      );
    }
    const results = checked.map((c) =>
      c.input
        ? { status: 201, data: this.render.patient(this.store.createPatient(c.input)) }
        : { status: 400, errors: c.errors },
    );
    if (failures === 0)
      return json(
        201,
        results.map((r) => r.data),
      );
    return json(207, results);
  }

  private detail(kind: RecordKind, id: number): Reply {
    if (!this.store.exists(kind, id)) return json(404, NOT_FOUND);
    return json(200, this.render.record(kind, id));
  }

  private recordList(kind: ListKind, params: URLSearchParams, path: string): Reply {
    const specs = this.specs[kind];
    // A parameter the installation does not know is dropped unread; the links keep it all the same.
    const understood = new URLSearchParams(
      [...params].filter(([name]) => !this.quirks.ignoredParameters.includes(name)),
    );
    const filters = parseFilters(understood, specs, this.render.offsetMinutes);
    // A lower id bound (id__gt / id__gte, as a keyset read sends) is applied to the cached ids
    // of the rest of the query, so paging by id costs a binary search, not a scan per page.
    const bound = filters.or ? null : idLowerBound(filters.conditions);
    const rest = bound ? { ...filters, conditions: filters.conditions.filter((c) => c !== bound.condition) } : filters;
    const restKey = bound
      ? `${rest.or ? 'or' : 'and'}|${rest.conditions
          .map((c) => `${c.field}__${c.method}=${JSON.stringify(c.operand)}`)
          .sort()
          .join('&')}`
      : filters.key;
    const cacheKey = `${kind}|${restKey}`;
    let cached = this.queryCache.get(cacheKey);
    if (!cached || cached.version !== this.store.version) {
      cached = { version: this.store.version, ids: matchingIds(this.store, kind, specs, rest) };
      this.queryCache.delete(cacheKey);
      this.queryCache.set(cacheKey, cached);
      if (this.queryCache.size > CACHED_QUERIES) this.queryCache.delete(this.queryCache.keys().next().value!);
    }
    let ids = cached.ids;
    if (bound) ids = ids.slice(firstIndexAbove(ids, bound.value, bound.inclusive));
    const ordering = parseOrdering(kind, understood.get('ordering'));
    ids = applyOrdering(this.store, kind, ids, ordering.length > 0 ? ordering : this.quirks.defaultOrdering);
    const page = choosePage(ids.length, params, this.origin, path);
    if (!page) return json(404, { detail: 'Invalid page.' });
    const writer = new PageWriter(page, (page.end - page.start) * ROW_BYTES[kind]);
    const render = (id: number) =>
      kind === 'client' ? this.render.client(id) : kind === 'patient' ? this.render.patient(id) : this.render.phone(id);
    for (let i = page.start; i < page.end; i++) {
      const id = ids[i]!;
      writer.rowBytes(this.rendered.get(kind, id, () => render(id)));
    }
    return { status: 200, body: writer.finish() };
  }

  /** Lists without filters (definitions, codelists, nested values): every filter is ignored. */
  private staticList(rows: unknown[], params: URLSearchParams, path: string): Reply {
    const page = choosePage(rows.length, params, this.origin, path);
    if (!page) return json(404, { detail: 'Invalid page.' });
    const writer = new PageWriter(page, 0);
    for (const row of rows.slice(page.start, page.end)) writer.row(JSON.stringify(row));
    return { status: 200, body: writer.finish() };
  }
}

/** The tightest `id__gt` / `id__gte` condition of an AND query, if any. */
function idLowerBound(
  conditions: readonly Condition[],
): { condition: Condition; value: number; inclusive: boolean } | null {
  let best: { condition: Condition; value: number; inclusive: boolean } | null = null;
  for (const condition of conditions) {
    if (condition.field !== 'id' || (condition.method !== 'gt' && condition.method !== 'gte')) continue;
    const value = condition.operand as number;
    const inclusive = condition.method === 'gte';
    // As an exclusive bound: id > value, or id >= value, i.e. id > value - 1.
    if (!best || (inclusive ? value - 1 : value) > (best.inclusive ? best.value - 1 : best.value))
      best = { condition, value, inclusive };
  }
  return best;
}
