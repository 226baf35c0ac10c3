import { describe, expect, it } from 'vitest';
import { copyPayload } from '../../src/db/copy-encoding.js';

type Row = { id: number; text: string | null; flag: boolean | null };
const columns = [
  ['id', (r: Row) => r.id],
  ['text', (r: Row) => r.text],
  ['flag', (r: Row) => r.flag],
] as const;
const copyText = (rows: Row[]) => copyPayload<Row>(columns, rows).toString('utf8');

describe('COPY text encoding', () => {
  it('escapes backslash, tab, newline and carriage return, and writes NULL as \\N', () => {
    const text = copyText([
      { id: 1, text: 'a\\b\tc\nd\re', flag: true },
      { id: 2, text: null, flag: false },
      { id: 3, text: '{"quote":"\\"x\\""}', flag: null },
    ]);
    expect(text).toBe('1\ta\\\\b\\tc\\nd\\re\tt\n2\t\\N\tf\n3\t{"quote":"\\\\"x\\\\""}\t\\N\n');
  });

  it('encodes non-ASCII text as UTF-8, past the first buffer size', () => {
    const long = 'Åsa Öberg 🐕 '.repeat(20_000);
    expect(copyText([{ id: 1, text: long, flag: null }])).toBe(`1\t${long}\t\\N\n`);
  });

  it('holds every row when a page outgrows the first buffer several times', () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      id: i,
      text: `client ${i} `.repeat(i % 40),
      flag: i % 2 === 0,
    }));
    const expected = rows.map((r) => `${r.id}\t${r.text}\t${r.flag ? 't' : 'f'}\n`).join('');
    expect(copyText(rows)).toBe(expected);
  });

  it('leaves a value that is only "\\." or "\\N" as text, not an end marker or a NULL', () => {
    expect(copyText([{ id: 1, text: '\\.', flag: null }])).toBe('1\t\\\\.\t\\N\n');
    expect(copyText([{ id: 1, text: '\\N', flag: null }])).toBe('1\t\\\\N\t\\N\n');
  });

  it('copies a Buffer value as UTF-8 bytes, escaped the same way as text', () => {
    type RawRow = { id: number; raw: Buffer };
    const rawColumns = [
      ['id', (r: RawRow) => r.id],
      ['raw', (r: RawRow) => r.raw],
    ] as const;
    const plain = '{"name":"Åsa 🐕","url":"https://x/client/1/"}';
    const escaped = '{"a":"x\\"y","b":"\\n"}\t\n\r';
    const text = copyPayload<RawRow>(rawColumns, [
      { id: 1, raw: Buffer.from(plain) },
      { id: 2, raw: Buffer.from(escaped) },
    ]).toString('utf8');
    expect(text).toBe(
      `1\t${plain}\n2\t${escaped.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)}\n`,
    );
    // A value past the first buffer size, bytes and text mixed.
    const long = Buffer.from('{"x":"Öberg\\\\"}'.repeat(10_000));
    expect(copyPayload<RawRow>(rawColumns, [{ id: 3, raw: long }]).toString('utf8')).toBe(
      `3\t${long.toString('utf8').replaceAll('\\', '\\\\')}\n`,
    );
  });

  it('keeps the fields in order around a Buffer in the middle of a row (the backfill COPY)', () => {
    type MixedRow = { id: number; raw: Buffer; seen: string | null; note: string };
    const mixed = [
      ['id', (r: MixedRow) => r.id],
      ['raw', (r: MixedRow) => r.raw],
      ['seen', (r: MixedRow) => r.seen],
      ['note', (r: MixedRow) => r.note],
    ] as const;
    const text = copyPayload<MixedRow>(mixed, [
      { id: 1, raw: Buffer.from('{"a":1}'), seen: null, note: 'x\ty' },
      { id: 2, raw: Buffer.from('{"b":"\\u00e9"}'), seen: '2024-01-01 00:00:00+00', note: '' },
    ]).toString('utf8');
    expect(text).toBe('1\t{"a":1}\t\\N\tx\\ty\n2\t{"b":"\\\\u00e9"}\t2024-01-01 00:00:00+00\t\n');
  });
});
