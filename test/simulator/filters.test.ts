import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { all, connect, idOf, ids, list, text, type Caller, type Row } from './helpers.js';

let sim: Simulator;
let call: Caller;
let clients: Row[];
let patients: Row[];
const OFFSET = '+02:00';

/** Microseconds since the epoch of a rendered timestamp, for comparisons beyond Date's milliseconds. */
function micros(text: unknown): number {
  const match = /^(.*?)(?:\.(\d{6}))?([+-]\d{2}:\d{2}|Z)$/.exec(String(text));
  if (!match) throw new Error(`unexpected timestamp ${String(text)}`);
  return Date.parse(`${match[1]}${match[3]}`) * 1000 + Number(match[2] ?? 0);
}

function expectIds(rows: Row[], wanted: Row[]): void {
  expect(wanted.length).toBeGreaterThan(0);
  expect(ids(rows)).toEqual(ids(wanted));
}

beforeAll(async () => {
  ({ sim, call } = await connect({ clients: 400, seed: 11, utcOffset: OFFSET }));
  sim.createClient({ firstname: 'Hilda', lastname: 'Berry', organization_name: '', email: 'hilda@example.com' });
  sim.createClient({ firstname: '', lastname: '', organization_name: 'Chilly Hill Farm', email: 'farm@example.com' });
  const state = sim.exportState();
  clients = state.clients as Row[];
  patients = state.patients as Row[];
});
afterAll(() => sim.close());

describe('filters', () => {
  it('filters modified__gte on microseconds, in both documented datetime spellings', async () => {
    const sorted = clients.map((c) => micros(c.modified)).sort((a, b) => a - b);
    const pivot = sorted[Math.floor(sorted.length / 2)]!;
    const pivotDate = new Date(Math.floor(pivot / 1000));
    // The sync guide's spelling, with seconds and microseconds and an offset.
    const iso = sim.exportState().clients.find((c) => micros(c.modified) === pivot)!.modified as string;
    const isoRows = await all(call, `client/?page_size=1000&modified__gte=${encodeURIComponent(iso)}`);
    expectIds(
      isoRows,
      clients.filter((c) => micros(c.modified) >= pivot),
    );
    // The filtering page's spelling: 'YYYY-MM-DD hh:mm+hh:mm' (minute precision, installation-local).
    const local = new Date(pivotDate.getTime() + 2 * 3600_000).toISOString();
    const minute = `${local.slice(0, 10)} ${local.slice(11, 16)}+02:00`;
    const minuteMicros = Date.parse(`${local.slice(0, 16)}:00+02:00`) * 1000;
    const minuteRows = await all(call, `client/?page_size=1000&modified__gte=${encodeURIComponent(minute)}`);
    expectIds(
      minuteRows,
      clients.filter((c) => micros(c.modified) >= minuteMicros),
    );
    // Without an offset the installation's offset applies.
    const naive = `${local.slice(0, 10)}T${local.slice(11, 16)}:00`;
    const naiveRows = await all(call, `client/?page_size=1000&modified__gte=${naive}`);
    expect(ids(naiveRows)).toEqual(ids(minuteRows));
  });

  it('ignores a datetime whose unencoded + arrived as a space: the whole collection comes back', async () => {
    const trap = await list(call, 'client/?modified__gte=2025-09-01T00:00:00+02:00');
    expect(trap.count).toBe(clients.length);
    const encoded = await list(call, 'client/?modified__gte=2025-09-01T00:00:00%2B02:00');
    expect(encoded.count).toBeLessThan(clients.length);
  });

  it('ignores unknown fields, unknown methods, bare fields and unparseable values', async () => {
    for (const query of [
      'nonsense__is=1',
      'firstname__sounds_like=x',
      'archived=false',
      'archived__is=maybe',
      'id__gt=abc',
      'modified__gte=yesterday',
      'id__in=1,2,3',
      'modified__gte=2025-13-45T00:00:00',
    ]) {
      const page = await list(call, `client/?${query}`);
      expect(page.count, query).toBe(clients.length);
    }
  });

  it('is / eq / is_not on ids, strings and booleans', async () => {
    expectIds(
      await all(call, 'client/?id__is=7'),
      clients.filter((c) => c.id === 7),
    );
    expectIds(
      await all(call, 'client/?id__eq=7'),
      clients.filter((c) => c.id === 7),
    );
    expectIds(
      await all(call, 'client/?email__is=hilda@example.com'),
      clients.filter((c) => c.email === 'hilda@example.com'),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&archived__is=true'),
      clients.filter((c) => c.archived === true),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&archived__is_not=true'),
      clients.filter((c) => c.archived !== true),
    );
  });

  it('lt / lte / gt / gte / range on ids', async () => {
    expectIds(
      await all(call, 'client/?page_size=1000&id__lt=20'),
      clients.filter((c) => c.id < 20),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&id__lte=20'),
      clients.filter((c) => c.id <= 20),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&id__gt=390'),
      clients.filter((c) => c.id > 390),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&id__gte=390'),
      clients.filter((c) => c.id >= 390),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&id__range=[10,20]'),
      clients.filter((c) => c.id >= 10 && c.id <= 20),
    );
  });

  it('in / not_in take a bracketed list', async () => {
    expectIds(
      await all(call, 'client/?id__in=[3,5,8]'),
      clients.filter((c) => [3, 5, 8].includes(c.id)),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&id__not_in=[3,5,8]'),
      clients.filter((c) => ![3, 5, 8].includes(c.id)),
    );
    expectIds(
      await all(call, 'patient/?page_size=1000&client__in=[3,5,8]'),
      patients.filter((p) => [3, 5, 8].includes(idOf(p.client))),
    );
    expect((await list(call, 'client/?id__in=[]')).count).toBe(0);
  });

  it('contains is case-sensitive, icontains is not', async () => {
    const lower = (v: unknown) => text(v).toLowerCase();
    expectIds(
      await all(call, 'client/?page_size=1000&lastname__icontains=hill'),
      clients.filter((c) => lower(c.lastname).includes('hill')),
    );
    expectIds(
      await all(call, 'client/?page_size=1000&lastname__contains=Hill'),
      clients.filter((c) => text(c.lastname).includes('Hill')),
    );
    expect((await list(call, 'client/?lastname__contains=hill')).count).toBe(
      clients.filter((c) => text(c.lastname).includes('hill')).length,
    );
    expectIds(
      await all(call, 'client/?organization_name__contains=Hill'),
      clients.filter((c) => text(c.organization_name).includes('Hill')),
    );
  });

  it('phone_numbers__contains matches any of a client’s numbers', async () => {
    const target = clients.find((c) => (c.phone_numbers as unknown[]).length > 1)!;
    const number = (target.phone_numbers as { number: string }[])[1]!.number;
    const fragment = number.slice(-6);
    const rows = await all(call, `client/?page_size=1000&phone_numbers__contains=${encodeURIComponent(fragment)}`);
    expect(ids(rows)).toContain(target.id);
    expectIds(
      rows,
      clients.filter((c) => (c.phone_numbers as { number: string }[]).some((p) => p.number.includes(fragment))),
    );
  });

  it('is_null on dates: living patients, and the guide’s per-client example', async () => {
    expectIds(
      await all(call, 'patient/?page_size=1000&deceased__is_null=true'),
      patients.filter((p) => p.deceased === null),
    );
    expectIds(
      await all(call, 'patient/?page_size=1000&deceased__is_null=false'),
      patients.filter((p) => p.deceased !== null),
    );
    const owner = idOf(patients.find((p) => patients.filter((q) => q.client === p.client).length > 1)!.client);
    expectIds(
      await all(call, `patient/?client__is=${owner}&archived__is=false&deceased__is_null=true`),
      patients.filter((p) => idOf(p.client) === owner && p.archived === false && p.deceased === null),
    );
  });

  it('client__is takes an id or a URL, and client.id__is is the same filter', async () => {
    const owner = idOf(patients[10]!.client);
    const expected = patients.filter((p) => idOf(p.client) === owner);
    expectIds(await all(call, `patient/?client__is=${owner}`), expected);
    expectIds(await all(call, `patient/?client__is=${encodeURIComponent(`${sim.baseUrl}client/${owner}/`)}`), expected);
    expectIds(await all(call, `patient/?client.id__is=${owner}`), expected);
    expectIds(
      await all(call, `phonenumber/?client__is=${owner}`),
      (sim.exportState().phoneNumbers as Row[]).filter((p) => idOf(p.client) === owner),
    );
  });

  it('species filters on the numeric code; date_of_birth and microchip on their values', async () => {
    const code = patients[0]!.species_code as number;
    expectIds(
      await all(call, `patient/?page_size=1000&species__is=${code}`),
      patients.filter((p) => p.species_code === code),
    );
    expectIds(
      await all(call, 'patient/?page_size=1000&date_of_birth__gte=2020-01-01'),
      patients.filter((p) => p.date_of_birth !== null && text(p.date_of_birth) >= '2020-01-01'),
    );
    const chip = patients.find((p) => p.microchip !== null)!.microchip as string;
    expectIds(
      await all(call, `patient/?microchip__is=${chip}`),
      patients.filter((p) => p.microchip === chip),
    );
  });

  it('filter_type=or ORs the filters (default AND)', async () => {
    const lower = (v: unknown) => text(v).toLowerCase();
    const hill = (c: Row) => lower(c.firstname).includes('hil') || lower(c.organization_name).includes('hil');
    const or = await all(
      call,
      'client/?page_size=1000&firstname__icontains=hil&organization_name__icontains=hil&filter_type=or',
    );
    expectIds(or, clients.filter(hill));
    const and = await all(call, 'client/?page_size=1000&firstname__icontains=hil&organization_name__icontains=hil');
    expect(and).toHaveLength(
      clients.filter((c) => lower(c.firstname).includes('hil') && lower(c.organization_name).includes('hil')).length,
    );
    expect(or.length).toBeGreaterThan(and.length);
  });

  it('combines an unknown filter with a known one by ignoring only the unknown', async () => {
    expectIds(
      await all(call, 'client/?id__lt=5&colour__is=blue'),
      clients.filter((c) => c.id < 5),
    );
  });
});
