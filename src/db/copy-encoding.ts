// PostgreSQL's COPY text format, written fast: rows become one payload Buffer (text fields joined
// and encoded with one write per row, raw JSON bytes copied in), escaped as COPY wants, and sent
// with pg-copy-streams. What the rows mean and where they go is db/mirror/'s business.
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A value as it goes into a COPY column (a Buffer is UTF-8 text already). */
export type CopyValue = string | number | boolean | Buffer | null | undefined;

// COPY text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIALS = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function copyField(value: Exclude<CopyValue, Buffer>): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'string')
    return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]!) : value;
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return String(value);
}

export type CopyColumns<Row> = ReadonlyArray<readonly [name: string, value: (row: Row) => CopyValue]>;

/**
 * The rows as one COPY text payload. A row's text fields are joined into one string and encoded
 * with one write; a Buffer field (raw JSON as sent) is copied in as bytes. (Encoding field by field
 * took half as long again, a native call per field; joining a whole page into one string and
 * encoding that took three times as long, the string has to be flattened first.)
 */
export function copyPayload<Row>(columns: CopyColumns<Row>, rows: readonly Row[]): Buffer {
  let buffer: Buffer = Buffer.allocUnsafe(64 * 1024);
  let length = 0;
  const last = columns.length - 1;
  // The text since the last write: the row's fields so far, each with the separator after it.
  const flush = (text: string, r: number): void => {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const needed = length + text.length * 3;
    if (needed > buffer.length) buffer = grow(buffer, length, needed, r, rows.length);
    length += buffer.write(text, length);
  };
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    let text = '';
    for (let c = 0; c <= last; c++) {
      const value = columns[c]![1](row);
      const separator = c === last ? '\n' : '\t';
      if (Buffer.isBuffer(value)) {
        if (text.length > 0) flush(text, r);
        // Escaping at most doubles each byte.
        const needed = length + value.length * 2;
        if (needed > buffer.length) buffer = grow(buffer, length, needed, r, rows.length);
        length = copyBytes(value, buffer, length);
        text = separator;
      } else {
        text += copyField(value) + separator;
      }
    }
    flush(text, r);
  }
  return buffer.subarray(0, length);
}

/** A bigger buffer holding the first `length` bytes of `buffer`. */
function grow(buffer: Buffer, length: number, needed: number, rowsDone: number, rowCount: number): Buffer {
  // Grown to what the rows so far say the whole page needs, so a page is copied once or twice, not ten times.
  const expected = rowsDone > 0 ? Math.ceil((length / rowsDone) * rowCount * 1.2) : 0;
  const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, needed, expected));
  buffer.copy(grown, 0, 0, length);
  return grown;
}

/** COPY_ESCAPES by byte: the special byte, and the letter that follows the backslash for it. */
const ESCAPED_BYTE = new Map(
  Object.entries(COPY_ESCAPES).map(([special, escape]) => [special.charCodeAt(0), escape.charCodeAt(1)]),
);
const SPECIAL_BYTES = [...ESCAPED_BYTE.keys()];
const BACKSLASH = 0x5c;

/** UTF-8 bytes into the payload at `at`, COPY-escaped like copyField's text; returns the new length. */
function copyBytes(bytes: Buffer, into: Buffer, at: number): number {
  // Most raw records hold no backslash, and JSON has tabs and line breaks only as layout.
  if (SPECIAL_BYTES.every((special) => bytes.indexOf(special) === -1)) return at + bytes.copy(into, at);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const escaped = ESCAPED_BYTE.get(b);
    if (escaped === undefined) {
      into[at++] = b;
    } else {
      into[at++] = BACKSLASH;
      into[at++] = escaped;
    }
  }
  return at;
}

export async function copyRows<Row>(
  db: pg.PoolClient,
  table: string,
  columns: CopyColumns<Row>,
  rows: readonly Row[],
): Promise<void> {
  const copy = db.query(copyFrom(`COPY ${table} (${columns.map(([name]) => name).join(', ')}) FROM STDIN`));
  copy.end(copyPayload(columns, rows));
  await finished(copy);
}
