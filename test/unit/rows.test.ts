import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { compareTimestamps, mapPage } from '../../src/sync/page-rows.js';
import { mapClient, mapPatient, mapPhoneNumber } from '../../src/sync/rows.js';
import { makeStorable, rawText } from '../../src/sync/storable-json.js';
import { parseBody } from '../../src/provet/raw-records.js';

const base = 'https://provetcloud.com/4/api/0.1/';

function client(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 218,
    url: `${base}client/218/`,
    title: '',
    firstname: 'Anna',
    lastname: 'Hill',
    organization_name: null,
    email: 'anna@example.com',
    customer_type: 0,
    country: 'FI',
    home_department: `${base}department/3/`,
    archived: false,
    no_sms: false,
    no_email: true,
    phone_numbers: [
      { id: 9, number: '+358401234567', type: 'mobile', description: '', is_secondary_owners_phone_number: false },
    ],
    fields_rel: [{ id: 70, field_id: 42, label: 'Referred by', value: 'Dr. Brown' }],
    created: '2021-11-10T15:45:50.179386+02:00',
    modified: '2021-11-10T15:45:50.179414+02:00',
    brand_new_field: { nested: true },
    ...overrides,
  };
}

function patient(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 2130,
    url: `${base}patient/2130/`,
    client: `${base}client/218/`,
    name: 'Fenton',
    species: 'Dog (Canine - Domestic)',
    species_code: 15461002,
    breed: 'None',
    gender: 'Female',
    weight: '32.5',
    date_of_birth: null,
    deceased: '2024-03-20',
    microchip: null,
    archived: false,
    created: '2021-11-10T15:45:50.179386+02:00',
    modified: '2021-11-10T15:45:50.179414+02:00',
    fields_rel: [{ id: 5, field_id: 55, label: 'Diet', value: [{ id: 101, name: 'Option A' }] }],
    ...overrides,
  };
}

describe('mapClient', () => {
  it('maps the documented fields, URL references, nested phone numbers and fields_rel', () => {
    const mapped = mapClient(client());
    expect(mapped.ok).toBe(true);
    if (!mapped.ok) return;
    const row = mapped.row;
    expect(row).toMatchObject({
      id: 218,
      title: null,
      firstname: 'Anna',
      organizationName: null,
      customerType: 0,
      homeDepartmentId: 3,
      noSms: false,
      noEmail: true,
      archived: false,
      modified: '2021-11-10T15:45:50.179414+02:00',
    });
    expect(row.phoneNumbers).toEqual([
      expect.objectContaining({ id: 9, clientId: 218, phoneNumber: '+358401234567', typeCode: 1 }),
    ]);
    expect(row.fieldValues).toEqual([
      expect.objectContaining({
        objectType: 'client',
        id: 70,
        fieldId: 42,
        objectId: 218,
        valueJson: '"Dr. Brown"',
      }),
    ]);
    expect(JSON.parse(rawText(row.rawJson)).brand_new_field).toEqual({ nested: true });
  });

  it('tells an absent fields_rel (fetch elsewhere) from an empty one (no values)', () => {
    const { fields_rel: _omit, ...withoutFields } = client();
    const absent = mapClient(withoutFields);
    const empty = mapClient(client({ fields_rel: [] }));
    expect(absent.ok && absent.row.fieldValues).toBeNull();
    expect(empty.ok && empty.row.fieldValues).toEqual([]);
  });

  it.each([
    [{ id: undefined }, /id/],
    [{ id: 'abc' }, /id/],
    [{ id: -4 }, /id/],
    [{ modified: undefined }, /modified/],
    [{ modified: '2021-11-10T15:45:50' }, /modified: must be an ISO 8601 timestamp with an offset/],
    [{ modified: '2021-13-45T15:45:50+02:00' }, /modified/],
    [{ archived: 'perhaps' }, /archived/],
    [{ customer_type: 'company' }, /customer_type/],
    [{ firstname: { first: 'A' } }, /firstname/],
  ])('rejects %o with a reason naming the field', (overrides, reason) => {
    const mapped = mapClient(client(overrides));
    expect(mapped.ok).toBe(false);
    if (mapped.ok) return;
    expect(mapped.reject.reason).toMatch(reason);
    expect(mapped.reject.payload).toContain('"lastname":"Hill"');
  });

  it('rejects records that are not objects, and oversized ones', () => {
    expect(mapClient('nope').ok).toBe(false);
    expect(mapClient(null).ok).toBe(false);
    const huge = mapClient(client({ remarks: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.ok).toBe(false);
    if (!huge.ok) expect(huge.reject.reason).toMatch(/over the 1048576-byte limit/);
  });
});

describe('mapPatient', () => {
  it('keeps display texts, codes, decimal weight and dates as sent', () => {
    const mapped = mapPatient(patient());
    expect(mapped.ok).toBe(true);
    if (!mapped.ok) return;
    expect(mapped.row).toMatchObject({
      id: 2130,
      clientId: 218,
      species: 'Dog (Canine - Domestic)',
      speciesCode: 15461002,
      breed: 'None',
      weight: '32.5',
      deceased: '2024-03-20',
      dateOfBirth: null,
    });
    expect(JSON.parse(mapped.row.fieldValues?.[0]?.valueJson ?? 'null')).toEqual([{ id: 101, name: 'Option A' }]);
  });

  it('accepts the last day of every month, leap days included', () => {
    for (const day of [
      '2024-01-31',
      '2024-02-29',
      '2000-02-29',
      '2023-02-28',
      '2024-04-30',
      '2024-12-31',
      '0001-01-01',
    ]) {
      const mapped = mapPatient(patient({ date_of_birth: day }));
      expect(mapped.ok && mapped.row.dateOfBirth, day).toBe(day);
    }
  });

  it('accepts numbers sent as strings and "" for empty values', () => {
    const mapped = mapPatient(patient({ species_code: '15461002', weight: 12, microchip: '', deceased: '' }));
    expect(mapped.ok && mapped.row).toMatchObject({
      speciesCode: 15461002,
      weight: '12',
      microchip: null,
      deceased: null,
    });
  });

  it.each([
    [{ deceased: '2024-02-30' }, /deceased: is not a real calendar date/],
    // Month 13 is not even a Date: the check must reject it, not throw and stop the page.
    [{ date_of_birth: '2024-13-45' }, /date_of_birth: is not a real calendar date/],
    [{ date_of_birth: '2023-02-29' }, /date_of_birth: is not a real calendar date/],
    [{ date_of_birth: '1900-02-29' }, /date_of_birth: is not a real calendar date/],
    [{ date_of_birth: '2024-04-31' }, /date_of_birth: is not a real calendar date/],
    [{ date_of_birth: '2024-00-10' }, /date_of_birth: is not a real calendar date/],
    [{ weight: 'heavy' }, /weight/],
    [{ client: 'https://x/client/abc/' }, /client/],
  ])('rejects %o', (overrides, reason) => {
    const mapped = mapPatient(patient(overrides));
    expect(mapped.ok).toBe(false);
    if (!mapped.ok) expect(mapped.reject.reason).toMatch(reason);
  });
});

describe('mapPhoneNumber', () => {
  it('takes the client id from its URL', () => {
    const mapped = mapPhoneNumber({ id: 3, client: `${base}client/456/`, phone_number: '+441234567890', type_code: 1 });
    expect(mapped.ok && mapped.row).toMatchObject({ id: 3, clientId: 456, typeCode: 1 });
  });
});

describe('makeStorable', () => {
  it('replaces what PostgreSQL cannot store and keeps everything else', () => {
    const stored = makeStorable({ a: 'x\u0000y', b: ['\uD800'], 'k\u0000': 1, n: 5, t: true, z: null }) as Record<
      string,
      unknown
    >;
    expect(stored).toEqual({ a: 'x\uFFFDy', b: ['\uFFFD'], 'k\uFFFD': 1, n: 5, t: true, z: null });
  });

  it('keeps a "__proto__" key as a key: a repaired record inherits nothing from it', () => {
    const input = JSON.parse(
      '{"__proto__":{"id":5,"modified":"2021-11-10T15:45:50+02:00"},"note":"a\\u0000b"}',
    ) as object;
    const stored = makeStorable(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect(Object.keys(stored)).toEqual(['__proto__', 'note']);
    expect(mapClient(input).ok).toBe(false);
  });

  it('lets a record with a NUL character be stored rather than lost', () => {
    const mapped = mapClient(client({ lastname: 'Hi\u0000ll' }));
    expect(mapped.ok && mapped.row.lastname).toBe('Hi\uFFFDll');
  });
});

/** A record as the Provet client hands it over, found in a page around it. */
const sentRecord = (bytes: Buffer) =>
  parseBody(Buffer.concat([Buffer.from('{"results":['), bytes, Buffer.from(']}')])).sent![0]!;

describe('raw JSON from the bytes sent', () => {
  it('keeps the bytes as sent when PostgreSQL can store them', () => {
    const sent = Buffer.from(JSON.stringify(client({ lastname: 'Öberg' }), null, 1));
    const mapped = mapClient(JSON.parse(sent.toString('utf8')), sentRecord(sent));
    expect(mapped.ok && Buffer.isBuffer(mapped.row.rawJson) && mapped.row.rawJson.equals(sent)).toBe(true);
  });

  it('writes the record out again when the bytes hold what jsonb refuses, or are not UTF-8', () => {
    const nul = Buffer.from(JSON.stringify(client({ lastname: 'Hi\u0000ll' })));
    const withNul = mapClient(JSON.parse(nul.toString('utf8')), sentRecord(nul));
    expect(withNul.ok && rawText(withNul.row.rawJson)).toContain('Hi\uFFFDll');

    const surrogate = Buffer.from(JSON.stringify(client({ lastname: '\uD800' })));
    const withSurrogate = mapClient(JSON.parse(surrogate.toString('utf8')), sentRecord(surrogate));
    expect(withSurrogate.ok && typeof withSurrogate.row.rawJson).toBe('string');

    const latin1 = Buffer.from(JSON.stringify(client({ lastname: 'Öberg' })), 'latin1');
    const notUtf8 = mapClient(JSON.parse(latin1.toString('utf8')), sentRecord(latin1));
    expect(notUtf8.ok && typeof notUtf8.row.rawJson).toBe('string');
    expect(notUtf8.ok && isUtf8(Buffer.from(rawText(notUtf8.row.rawJson)))).toBe(true);
  });

  it('writes out numbers JSON.parse rounds (or jsonb refuses) from the parsed record, as before', () => {
    for (const number of ['1e400', '-1e-20000', '12345678901234567890.5', '0.12345678901234567']) {
      const sent = Buffer.from(
        JSON.stringify(client()).replace('"customer_type":0', `"customer_type":0,"odd":${number}`),
      );
      const parsed = JSON.parse(sent.toString('utf8')) as Record<string, unknown>;
      const mapped = mapClient(parsed, sentRecord(sent));
      expect(mapped.ok && mapped.row.rawJson, number).toBe(JSON.stringify(parsed));
    }
  });

  it('applies the size limit to the record as written, not to the layout of the bytes sent', () => {
    // 600,000 two-byte characters: 1.2 MB on the wire, 600,000 characters as a JSON string.
    const sent = Buffer.from(JSON.stringify(client({ remarks: 'Ö'.repeat(600_000) })));
    const mapped = mapClient(JSON.parse(sent.toString('utf8')), sentRecord(sent));
    expect(mapped.ok && typeof mapped.row.rawJson).toBe('string');
    const huge = Buffer.from(JSON.stringify(client({ remarks: ' '.repeat(1024 * 1024) })));
    const refused = mapClient(JSON.parse(huge.toString('utf8')), sentRecord(huge));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reject.reason).toMatch(/over the 1048576-byte limit/);
  });
});

describe('mapPage', () => {
  it('keeps the newest version when a page holds one id twice, and collects rejects', () => {
    const older = client({ modified: '2024-01-01T10:00:00.000001+02:00', firstname: 'Old' });
    const newer = client({ modified: '2024-01-01T10:00:00.000002+02:00', firstname: 'New' });
    const { rows, rejects } = mapPage([newer, older, { id: 'x' }], mapClient);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.firstname).toBe('New');
    expect(rejects).toHaveLength(1);
  });
});

describe('compareTimestamps', () => {
  it('orders to the microsecond across offsets', () => {
    expect(compareTimestamps('2024-01-01T10:00:00.000002+02:00', '2024-01-01T08:00:00.000001Z')).toBeGreaterThan(0);
    expect(compareTimestamps('2024-01-01T10:00:00.000001+02:00', '2024-01-01T08:00:00.000001Z')).toBe(0);
    expect(compareTimestamps('2024-01-01T10:00:00+02:00', '2024-01-01T08:00:00.000001Z')).toBeLessThan(0);
  });
});
