// Provet's `field__method=value` filters. Like the real API, a filter whose field, method
// or value is not understood is dropped without a word, so a typo returns the whole
// collection. Fields backed by the typed arrays are read without building any record.
import type { ClientState, PatientState } from './model.js';
import type { Store } from './store.js';
import { DELETED, type RecordTable } from './tables.js';
import { parseDate, parseDateTime } from './time.js';

export type ListKind = 'client' | 'patient' | 'phonenumber';
type FieldType = 'int' | 'ref' | 'string' | 'bool' | 'datetime' | 'date' | 'stringList';
type Value = number | string | boolean | null | string[];

interface FieldSpec {
  type: FieldType;
  /** Only for ref fields: the path segment of the URLs it accepts (`client`). */
  refPath?: string;
  get: (id: number) => Value;
}

export interface Condition {
  field: string;
  method: string;
  /** The parsed operand: a number, string, boolean, or a list for in / not_in / range. */
  operand: Value | Value[];
  test(value: Value): boolean;
}

export interface FilterSet {
  conditions: Condition[];
  or: boolean;
  /** Canonical text of the understood filters, used as a cache key. */
  key: string;
}

const NOT_FILTERS = new Set(['page', 'page_size', 'filter_type', 'format', 'ordering']);

/** The fields each list endpoint filters on, read straight from the store. */
export function fieldSpecs(store: Store, kind: ListKind): Map<string, FieldSpec> {
  const specs = new Map<string, FieldSpec>();
  const table: RecordTable = kind === 'client' ? store.clients : kind === 'patient' ? store.patients : store.phones;
  specs.set('id', { type: 'int', get: (id) => id });
  if (kind === 'phonenumber') {
    specs.set('client', { type: 'ref', refPath: 'client', get: (id) => table.owner[id]! });
    specs.set('phone_number', { type: 'string', get: (id) => store.phone(id).phone_number });
    specs.set('type_code', { type: 'int', get: (id) => store.phone(id).type_code });
    return specs;
  }
  specs.set('created', { type: 'datetime', get: (id) => table.created[id]! });
  specs.set('modified', { type: 'datetime', get: (id) => table.modified[id]! });
  specs.set('archived', { type: 'bool', get: (id) => table.isArchived(id) });
  if (kind === 'client') {
    // One record is built per id even when several conditions read it (and rebuilt after any change).
    let lastKey = '';
    let last: ClientState | null = null;
    const client = (id: number): ClientState => {
      const key = `${id}@${store.version}`;
      if (key !== lastKey || !last) [lastKey, last] = [key, store.client(id)];
      return last;
    };
    for (const name of [
      'firstname',
      'lastname',
      'organization_name',
      'email',
      'city',
      'zip_code',
      'country',
      'vat_number',
    ] as const) {
      specs.set(name, { type: 'string', get: (id) => client(id)[name] });
    }
    specs.set('customer_type', { type: 'int', get: (id) => client(id).customer_type });
    specs.set('phone_numbers', {
      type: 'stringList',
      get: (id) => store.phoneIdsOf(id).map((p) => store.phone(p).phone_number),
    });
    return specs;
  }
  let lastKey = '';
  let last: PatientState | null = null;
  const patient = (id: number): PatientState => {
    const key = `${id}@${store.version}`;
    if (key !== lastKey || !last) [lastKey, last] = [key, store.patient(id)];
    return last;
  };
  specs.set('client', { type: 'ref', refPath: 'client', get: (id) => table.owner[id]! });
  for (const name of ['name', 'microchip', 'gender', 'official_name'] as const) {
    specs.set(name, { type: 'string', get: (id) => patient(id)[name] });
  }
  specs.set('species', { type: 'int', get: (id) => patient(id).species_code });
  specs.set('breed', { type: 'int', get: (id) => patient(id).breed_code });
  specs.set('deceased', { type: 'date', get: (id) => patient(id).deceased });
  specs.set('date_of_birth', { type: 'date', get: (id) => patient(id).date_of_birth });
  return specs;
}

function parseBool(text: string): boolean | undefined {
  if (text === 'true' || text === 'True' || text === '1') return true;
  if (text === 'false' || text === 'False' || text === '0') return false;
  return undefined;
}

/** One operand in the field's type; undefined when it does not parse. */
function parseOperand(spec: FieldSpec, text: string, offsetMinutes: number): Value | undefined {
  switch (spec.type) {
    case 'int':
      return /^-?\d+$/.test(text) ? Number(text) : undefined;
    case 'ref': {
      const match = /^(\d+)$/.exec(text) ?? new RegExp(`/${spec.refPath}/(\\d+)/?$`).exec(text);
      return match ? Number(match[1]) : undefined;
    }
    case 'bool':
      return parseBool(text);
    case 'datetime':
      return parseDateTime(text, offsetMinutes) ?? undefined;
    case 'date':
      return parseDate(text) ?? undefined;
    case 'string':
    case 'stringList':
      return text;
  }
}

/** `[1,2,3]` (brackets required, as documented); quotes around items are dropped. */
function parseList(spec: FieldSpec, text: string, offsetMinutes: number): Value[] | undefined {
  const match = /^\[(.*)\]$/s.exec(text.trim());
  if (!match) return undefined;
  if (match[1]!.trim() === '') return [];
  const items: Value[] = [];
  for (const raw of match[1]!.split(',')) {
    const item = parseOperand(spec, raw.trim().replace(/^(['"])(.*)\1$/s, '$2'), offsetMinutes);
    if (item === undefined) return undefined;
    items.push(item);
  }
  return items;
}

function compare(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** Builds the test for one method; undefined when the method does not apply to the field. */
function buildTest(spec: FieldSpec, method: string, operand: Value | Value[]): ((value: Value) => boolean) | undefined {
  const list = spec.type === 'stringList';
  // A list field matches when any of its items does.
  const any = (test: (item: Value) => boolean) => (value: Value) =>
    Array.isArray(value) ? value.some((item) => test(item)) : test(value);
  const wrap = (test: (item: Value) => boolean) => (list ? any(test) : test);
  const present = (value: Value) => value !== null && value !== undefined;
  switch (method) {
    case 'is':
    case 'eq':
      return wrap((v) => present(v) && compare(v, operand as Value) === 0);
    case 'is_not':
      return list
        ? (v) => !any((i) => compare(i, operand as Value) === 0)(v)
        : (v) => !present(v) || compare(v, operand as Value) !== 0;
    case 'lt':
      return wrap((v) => present(v) && compare(v, operand as Value) < 0);
    case 'lte':
      return wrap((v) => present(v) && compare(v, operand as Value) <= 0);
    case 'gt':
      return wrap((v) => present(v) && compare(v, operand as Value) > 0);
    case 'gte':
      return wrap((v) => present(v) && compare(v, operand as Value) >= 0);
    case 'in': {
      const items = operand as Value[];
      return wrap((v) => present(v) && items.some((item) => compare(v, item) === 0));
    }
    case 'not_in': {
      const items = operand as Value[];
      return wrap((v) => !present(v) || !items.some((item) => compare(v, item) === 0));
    }
    case 'range': {
      const [low, high] = operand as Value[];
      return wrap((v) => present(v) && compare(v, low!) >= 0 && compare(v, high!) <= 0);
    }
    case 'contains':
    case 'icontains': {
      if (spec.type !== 'string' && spec.type !== 'stringList') return undefined;
      const fold = method === 'icontains';
      const needle = fold ? String(operand).toLowerCase() : String(operand);
      return wrap((v) => typeof v === 'string' && (fold ? v.toLowerCase() : v).includes(needle));
    }
    case 'is_null': {
      const wantNull = operand as boolean;
      return (v) => (v === null || (Array.isArray(v) && v.length === 0)) === wantNull;
    }
    default:
      return undefined;
  }
}

/** Reads the query string into the filters the API would apply; everything else is dropped. */
export function parseFilters(params: URLSearchParams, specs: Map<string, FieldSpec>, offsetMinutes: number): FilterSet {
  const conditions: Condition[] = [];
  // As Django's QueryDict.get: with a repeated parameter, the last one counts.
  const last = new Map<string, string>();
  for (const [key, value] of params) if (!NOT_FILTERS.has(key)) last.set(key, value);
  for (const [key, text] of last) {
    const split = key.lastIndexOf('__');
    if (split <= 0) continue;
    let field = key.slice(0, split);
    const method = key.slice(split + 2);
    // `client.id__is` is the documented spelling of `client__is`.
    if (field.endsWith('.id')) {
      const base = field.slice(0, -3);
      if (specs.get(base)?.type !== 'ref') continue;
      field = base;
    }
    const spec = specs.get(field);
    if (!spec) continue;
    let operand: Value | Value[] | undefined;
    if (method === 'in' || method === 'not_in') operand = parseList(spec, text, offsetMinutes);
    else if (method === 'range') {
      operand = parseList(spec, text.startsWith('[') ? text : `[${text}]`, offsetMinutes);
      if (operand && operand.length !== 2) operand = undefined;
    } else if (method === 'is_null') operand = parseBool(text);
    else operand = parseOperand(spec, text, offsetMinutes);
    if (operand === undefined) continue;
    const test = buildTest(spec, method, operand);
    if (!test) continue;
    conditions.push({ field, method, operand, test });
  }
  const or = params.get('filter_type') === 'or';
  const key = `${or ? 'or' : 'and'}|${conditions
    .map((c) => `${c.field}__${c.method}=${JSON.stringify(c.operand)}`)
    .sort()
    .join('&')}`;
  return { conditions, or, key };
}

/**
 * Ids of live records matching the filters, ascending. In AND mode a condition on the
 * owning client or on id narrows the scan, so a per-client query does not walk a million rows.
 */
export function matchingIds(store: Store, kind: ListKind, specs: Map<string, FieldSpec>, filters: FilterSet): number[] {
  const table = kind === 'client' ? store.clients : kind === 'patient' ? store.patients : store.phones;
  const flags = table.flags;
  const checks = filters.conditions.map((c) => ({ get: specs.get(c.field)!.get, test: c.test.bind(c) }));
  const matches = (id: number): boolean => {
    if (checks.length === 0) return true;
    if (filters.or) return checks.some((c) => c.test(c.get(id)));
    return checks.every((c) => c.test(c.get(id)));
  };

  let candidates: number[] | null = null;
  let from = 1;
  if (!filters.or) {
    for (const c of filters.conditions) {
      if (c.field === 'client' && kind !== 'client' && (c.method === 'is' || c.method === 'eq')) {
        const owner = c.operand as number;
        candidates = kind === 'patient' ? store.patientIdsOf(owner) : store.phoneIdsOf(owner);
      } else if (c.field === 'id' && (c.method === 'gt' || c.method === 'gte')) {
        from = Math.max(from, (c.operand as number) + (c.method === 'gt' ? 1 : 0));
      }
    }
  }
  const ids: number[] = [];
  if (candidates) {
    for (const id of candidates) if (matches(id)) ids.push(id);
    return ids;
  }
  for (let id = Math.max(1, from), end = table.maxId; id <= end; id++) {
    if ((flags[id]! & DELETED) === 0 && matches(id)) ids.push(id);
  }
  return ids;
}
