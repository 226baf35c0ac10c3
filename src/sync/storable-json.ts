// A record's raw JSON as PostgreSQL stores it: the bytes Provet sent when jsonb takes them as
// they are, else JSON text written from the parsed record, repaired where jsonb would refuse it.
import { isUtf8 } from 'node:buffer';
import type { RawJson } from '../db/mirror/record-upsert.js';
import type { SentRecord } from '../provet/raw-records.js';
import { MAX_RECORD_BYTES } from '../provet/records.js';

/** A raw record as text (for reject payloads and logs). */
export function rawText(raw: RawJson): string {
  return typeof raw === 'string' ? raw : raw.toString('utf8');
}

/**
 * PostgreSQL stores neither NUL characters nor lone UTF-16 surrogates in text or jsonb. Such
 * characters are replaced by U+FFFD so the record is stored instead of lost; everything else is kept.
 */
export function makeStorable(value: unknown): unknown {
  if (typeof value === 'string') {
    const wellFormed = value.isWellFormed() ? value : value.toWellFormed();
    return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
  }
  if (Array.isArray(value)) return value.map(makeStorable);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty, not assignment: a "__proto__" key (JSON.parse makes it an own key) would
      // otherwise set the copy's prototype, and the record would inherit whatever it held.
      Object.defineProperty(out, makeStorable(k) as string, {
        value: makeStorable(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/**
 * JSON.stringify writes NUL as \u0000 and a lone surrogate as \udXXX (a paired one as the
 * character itself), so JSON text without these escapes holds nothing PostgreSQL refuses and the
 * record needs no repair. (An escaped backslash followed by "u0000" also matches: a needless repair, no harm.)
 */
const UNSTORABLE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/** includes() first: a native scan, several times cheaper than the regex, and almost every record has no \u at all. */
function hasUnstorableEscape(json: string): boolean {
  return json.includes('\\u') && UNSTORABLE_ESCAPE.test(json);
}

/** The record as JSON text PostgreSQL stores, and the object that text was made from. */
export function storableJson(input: object): { json: string; value: object } {
  const json = JSON.stringify(input);
  if (!hasUnstorableEscape(json)) return { json, value: input };
  const value = makeStorable(input) as object;
  return { json: JSON.stringify(value), value };
}

/** `\u`, searched for in the bytes before anything is decoded. */
const ESCAPE_U = Buffer.from('\\u');

/**
 * The bytes a record was sent as, when PostgreSQL stores them as they are and they say what
 * JSON.parse read: valid UTF-8, within the size limit, without a \u0000 or lone-surrogate escape
 * (JSON.parse takes both; jsonb refuses them) and without long numbers (JSON.parse rounds them,
 * 1e400 to Infinity and 1e-20000 to 0, and jsonb refuses some outright). Otherwise null, and the
 * record is written out again from its parsed, repaired form, as before. (UNSTORABLE_ESCAPE also
 * matches escaped surrogate pairs, which are fine: those records just take that path too.)
 */
export function storableBytes({ bytes, longNumbers }: SentRecord): Buffer | null {
  // The limit applies to the record as JSON.stringify writes it (layout and \uXXXX escapes in
  // the bytes sent would count against it otherwise), so larger bytes take the other path.
  if (bytes.length > MAX_RECORD_BYTES) return null;
  // A native search of the bytes first: almost no record has a \u escape at all.
  if (bytes.includes(ESCAPE_U) && hasUnstorableEscape(bytes.toString('latin1'))) return null;
  if (longNumbers) return null;
  return isUtf8(bytes) ? bytes : null;
}
