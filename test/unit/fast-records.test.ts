// The fast paths of records.ts against the schemas they stand in for: on any record, a fast path
// either leaves it to zod (null) or gives exactly what zod gives, and it never takes a record zod
// refuses. Records are generated from values that sit on every edge the schemas draw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientRecord, fastClientRecord, fastPatientRecord, patientRecord } from '../../src/provet/records.js';

const base = 'https://provetcloud.com/4/api/0.1/';

// Values each kind of field may meet: what the column wants (mostly, so that some records are
// valid throughout), and what zod converts or refuses.
const field = (good: unknown[], odd: unknown[]) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...good), weight: 18 },
    { arbitrary: fc.constantFrom(...odd, -0), weight: 2 },
    // Beyond the lists: whatever else a string or a number may be.
    { arbitrary: fc.oneof(fc.string({ unit: 'binary' }), fc.integer(), fc.double(), fc.constant(null)), weight: 1 },
  );
const emptyish = [undefined, 0, false, [], {}];
const ids = field([1, 218, 2 ** 53 - 1], [2 ** 53, 0, -3, 1.5, '218', '0', 'abc', null, '']);
const texts = field(
  [null, '', 'Anna', 'Åsa Öberg 🐕', ' ', 'x'.repeat(100_000)],
  [...emptyish, 'x'.repeat(100_001), 12, 1.5, true, 'true'],
);
const ints = field([null, '', 0, 7, -7, 2 ** 53 - 1], [...emptyish, 2 ** 53, 1.5, '7', '-7', '7.0', 'seven', true]);
const flags = field([null, '', true, false], [...emptyish, 'true', 'True', 'false', 'False', 'yes', 1]);
const goodTimestamps = [
  '2021-11-10T15:45:50.179386+02:00',
  '2021-11-10 15:45:50+02:00',
  '2021-11-10T15:45Z',
  '2024-02-29T00:00:00-0400',
];
const oddTimestamps = [
  '2021-11-10T15:45:50.1234567+02:00',
  '2021-13-10T15:45:50+02:00',
  '2021-11-10T25:45:50+02:00',
  '2021-11-10T15:45:50',
  '2021-11-10',
  1636551950,
];
const timestamps = field(goodTimestamps, [...oddTimestamps, null, '', ...emptyish]);
const optionalTimestamps = field([...goodTimestamps, null, ''], [...oddTimestamps, ...emptyish]);
const dates = field(
  [null, '', '2024-02-29', '2019-07-05'],
  [...emptyish, '2023-02-29', '2024-02-30', '2024-13-45', '2024-1-5', '2024-02-29T00:00:00Z', 20240229],
);
const decimals = field([null, '', '32.5', '-0.25', '32'], [...emptyish, '1e5', '32,5', 32.5, 1e21, 'heavy']);
const references = field(
  [null, '', `${base}client/218/`, `${base}client/218`, '218', 218],
  [...emptyish, `${base}client/0/`, `${base}client/abc/`, -218, 2.5, 2 ** 53, 'x/218/y'],
);
const phone = fc.record(
  {
    id: ids,
    number: texts,
    phone_number: texts,
    type: texts,
    type_code: ints,
    description: texts,
    is_secondary_owners_phone_number: flags,
  },
  { requiredKeys: [] },
);
const value = fc.record(
  { id: ids, field_id: ids, label: texts, value: fc.jsonValue({ maxDepth: 2 }) },
  { requiredKeys: [] },
);
const list = <T>(entry: fc.Arbitrary<T>) =>
  fc.oneof(
    { arbitrary: fc.array(entry, { maxLength: 3 }), weight: 8 },
    { arbitrary: fc.constantFrom(null, undefined, '[]', {}), weight: 2 },
  );

const clients = fc.record(
  {
    id: ids,
    url: fc.constant(`${base}client/218/`),
    title: texts,
    firstname: texts,
    lastname: texts,
    organization_name: texts,
    email: texts,
    customer_type: ints,
    street_address: texts,
    zip_code: texts,
    city: texts,
    country: texts,
    home_department: references,
    no_sms: flags,
    no_email: flags,
    archived: flags,
    created: optionalTimestamps,
    modified: timestamps,
    phone_numbers: list(phone),
    fields_rel: list(value),
    brand_new_field: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const patients = fc.record(
  {
    id: ids,
    client: references,
    name: texts,
    species: texts,
    species_code: ints,
    breed: texts,
    breed_code: ints,
    gender: texts,
    weight: decimals,
    date_of_birth: dates,
    deceased: dates,
    microchip: texts,
    color: texts,
    home_department: references,
    archived: flags,
    created: optionalTimestamps,
    modified: timestamps,
    fields_rel: list(value),
  },
  { requiredKeys: [] },
);

/** Whether the fast path took the record; checked against zod either way. */
function agrees(
  fast: (input: unknown) => unknown,
  schema: typeof clientRecord | typeof patientRecord,
  record: unknown,
): boolean {
  const quick = fast(record);
  if (quick === null) return false;
  const zod = schema.safeParse(record);
  expect(zod.success, `the fast path took a record zod refuses: ${JSON.stringify(record)?.slice(0, 500)}`).toBe(true);
  // toEqual: a key zod sets to undefined and a key left out are the same to the mappers.
  expect(quick).toEqual(zod.data);
  return true;
}

describe('fast record paths', () => {
  it.each([
    ['client', fastClientRecord, clientRecord, clients],
    ['patient', fastPatientRecord, patientRecord, patients],
  ] as const)('%s: gives what the schema gives, or leaves the record to it', (_kind, fast, schema, records) => {
    let taken = 0;
    fc.assert(
      fc.property(records, (record) => {
        if (agrees(fast, schema, record)) taken++;
      }),
      { numRuns: 3000, seed: 20261126 },
    );
    // The generated records are mostly odd; still, some must have gone the fast way for the
    // comparison above to have meant anything.
    expect(taken).toBeGreaterThan(0);
  });

  it('takes records as Provet sends them, and leaves conversions and refusals to zod', () => {
    const client = {
      id: 218,
      title: '',
      firstname: 'Anna',
      customer_type: 0,
      home_department: `${base}department/3/`,
      archived: false,
      phone_numbers: [{ id: 9, number: '+358401234567', type: 'mobile', description: '' }],
      fields_rel: [{ id: 70, field_id: 42, label: 'Referred by', value: { any: ['json'] } }],
      created: '2021-11-10T15:45:50.179386+02:00',
      modified: '2021-11-10T15:45:50.179414+02:00',
    };
    expect(agrees(fastClientRecord, clientRecord, client)).toBe(true);
    const patient = {
      id: 2130,
      client: `${base}client/218/`,
      weight: '32.5',
      date_of_birth: '2019-07-05',
      deceased: null,
      modified: '2021-11-10T15:45:50+02:00',
    };
    expect(agrees(fastPatientRecord, patientRecord, patient)).toBe(true);

    for (const odd of [
      { customer_type: '0' },
      { no_sms: 'True' },
      { zip_code: 12345 },
      { id: '218' },
      { modified: 'yesterday' },
      { modified: undefined },
    ]) {
      expect(fastClientRecord({ ...client, ...odd }), JSON.stringify(odd)).toBeNull();
    }
    for (const odd of [
      { weight: 32.5 },
      { date_of_birth: '2024-13-45' },
      { client: `${base}client/0/` },
      { fields_rel: [{ id: 1 }] },
    ]) {
      expect(fastPatientRecord({ ...patient, ...odd }), JSON.stringify(odd)).toBeNull();
    }
  });
});
