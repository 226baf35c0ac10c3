// A page body parsed record by record, with each record's bytes as sent. The mirror keeps every
// record as raw JSON; taking the bytes Provet sent is about three times cheaper than writing each
// parsed record out again with JSON.stringify and encoding that (1.7 ms against 5.2 ms for a page
// of 1000 clients), and it leaves no string per record for the garbage collector.
//
// Decoding and parsing the records one by one is also about twice as fast as one toString and
// JSON.parse of the whole body (5.9 against 10 ms per MB here): a megabyte-long string is decoded
// and parsed through V8's slow paths for large strings, a record's kilobyte is not.
//
// The scan follows the body's structure without validating it: whatever it finds is then checked
// by JSON.parse, piece by piece, and anything the pieces do not prove goes to one JSON.parse of
// the whole body, as before. It gives up on anything it would have to interpret rather than just
// follow: a top-level key with an escape in it (JSON.parse reads "res\u0075lts" as "results").

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const RESULTS_KEY = Buffer.from('"results"');

/**
 * Set by skipNumber when a number has 16 or more digits or an exponent of three digits or more:
 * more than a double holds, so JSON.parse may have rounded it (1e400 to Infinity, 1e-20000 to 0,
 * 12345678901234567 to ...568). elements() reads and resets it around each element.
 */
let longNumberSeen = false;

/** JSON's whitespace: space, line feed, carriage return, tab. */
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && isSpace(b[i]!)) i++;
  return i;
}

/** From an opening quote to just past its closing quote. */
function skipString(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i]!;
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return b.length;
}

/** From the first byte of a number (a digit or a minus) to just past it; notes a long one. */
function skipNumber(b: Uint8Array, i: number): number {
  let mantissa = 0;
  let exponent = -1; // digits after the e, once there is one
  if (b[i] === MINUS) i++;
  for (; i < b.length; i++) {
    const c = b[i]!;
    if ((c >= DIGIT_0 && c <= DIGIT_9) || c === DOT) {
      if (exponent < 0) mantissa++;
      else exponent++;
    } else if (c === LOWER_E || c === UPPER_E) {
      exponent = 0;
    } else if ((c === PLUS || c === MINUS) && exponent === 0) {
      continue;
    } else {
      break;
    }
  }
  if (mantissa >= 16 || exponent >= 3) longNumberSeen = true;
  return i;
}

const startsNumber = (c: number | undefined) => c === MINUS || (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9);

/** From the first byte of a value to just past it. */
function skipValue(b: Uint8Array, i: number): number {
  const first = b[i];
  if (first === QUOTE) return skipString(b, i);
  if (startsNumber(first)) return skipNumber(b, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    while (i < b.length) {
      const c = b[i]!;
      if (c === QUOTE) {
        i = skipString(b, i);
        continue;
      }
      if (startsNumber(c)) {
        i = skipNumber(b, i);
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) return i + 1;
      i++;
    }
    return b.length;
  }
  // true, false or null (or not JSON): up to the next delimiter.
  while (i < b.length) {
    const c = b[i]!;
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isSpace(c)) break;
    i++;
  }
  return i;
}

function isResultsKey(b: Uint8Array, start: number, end: number): boolean {
  if (end - start !== RESULTS_KEY.length) return false;
  for (let k = 0; k < RESULTS_KEY.length; k++) if (b[start + k] !== RESULTS_KEY[k]) return false;
  return true;
}

/**
 * The bytes of each element of the array that starts at `i`, whether each holds a long number,
 * and where the array ends; null if it does not end with `]`.
 */
function elements(body: Buffer, i: number): { ranges: Buffer[]; longNumbers: boolean[]; end: number } | null {
  const ranges: Buffer[] = [];
  const longNumbers: boolean[] = [];
  i = skipSpace(body, i + 1);
  if (body[i] === CLOSE_BRACKET) return { ranges, longNumbers, end: i + 1 };
  while (i < body.length) {
    const start = i;
    longNumberSeen = false;
    i = skipValue(body, i);
    ranges.push(body.subarray(start, i));
    longNumbers.push(longNumberSeen);
    i = skipSpace(body, i);
    if (body[i] !== COMMA) break;
    i = skipSpace(body, i + 1);
  }
  return body[i] === CLOSE_BRACKET ? { ranges, longNumbers, end: i + 1 } : null;
}

/** Where the top-level `results` array of a page body sits, and each of its elements' bytes. */
interface ResultsLayout {
  /** The offset of its `[`. */
  start: number;
  /** Just past its `]`. */
  end: number;
  ranges: Buffer[];
  longNumbers: boolean[];
}

/**
 * The top-level `results` array of what looks like a page body (the last one, as JSON.parse
 * keeps the last of a repeated key); null when the body is not such an object as far as the
 * scan can tell, or a top-level key holds an escape. The body is not validated here.
 */
function resultsLayout(body: Buffer): ResultsLayout | null {
  let i = skipSpace(body, 0);
  if (body[i] !== OPEN_BRACE) return null;
  let found: ResultsLayout | null = null;
  i = skipSpace(body, i + 1);
  while (body[i] === QUOTE) {
    const keyStart = i;
    const keyEnd = skipString(body, i);
    if (body.subarray(keyStart, keyEnd).includes(BACKSLASH)) return null;
    i = skipSpace(body, keyEnd);
    if (body[i] !== COLON) return null;
    i = skipSpace(body, i + 1);
    if (isResultsKey(body, keyStart, keyEnd)) {
      if (body[i] !== OPEN_BRACKET) return null;
      const array = elements(body, i);
      if (array === null) return null;
      found = { start: i, ...array };
      i = array.end;
    } else {
      i = skipValue(body, i);
    }
    i = skipSpace(body, i);
    if (body[i] !== COMMA) break;
    i = skipSpace(body, i + 1);
  }
  return body[i] === CLOSE_BRACE ? found : null;
}

/**
 * One record of a page as sent: its bytes, and what the scan noticed in them. (Not its decoded
 * text as well: a page's texts held until the page is mapped added a megabyte or two to every
 * page in flight, and the old generation grew with them.)
 */
export interface SentRecord {
  bytes: Buffer;
  /**
   * It holds a number of 16 or more digits or with an exponent of three digits or more: more than
   * a double holds, so the parsed record may say something else (1e400 is Infinity there).
   */
  longNumbers: boolean;
}

/**
 * Turns one record, just parsed, into what the caller keeps of it (a mapped row, say), with its
 * bytes as sent when the scan could tell the records apart. Called right after JSON.parse, so the
 * parsed object dies young: a page held parsed until it was mapped lived through several scavenges,
 * was copied into the old generation, and a million-client sync's heap grew with it. It must not
 * throw; a record it cannot use is a value it returns (a reject).
 */
export type RecordDecoder<R> = (record: unknown, sent: SentRecord | undefined) => R;

/**
 * What a decoder threw, carried out of the parse apart from JSON.parse's own errors: a bug to
 * report as it is, not a malformed body to fetch again.
 */
export class DecoderFailedError extends Error {
  constructor(readonly error: unknown) {
    super('a record decoder threw', { cause: error });
    this.name = 'DecoderFailedError';
  }
}

export interface ParsedBody {
  /** What JSON.parse makes of the whole body, decoded as UTF-8 (with `decoded` results, see below). */
  value: unknown;
  /** Each element of the top-level `results`, in order, when the body is a page whose records could be told apart. */
  sent: SentRecord[] | null;
  /** The elements of `results` were passed through the decoder: true exactly when `sent` is set and a decoder was given. */
  decoded: boolean;
}

/**
 * JSON.parse of a response body, a page's records one by one where the scan finds them, each
 * passed to `decodeRecord` as soon as it is parsed. Throws JSON.parse's own error when the body
 * is not valid JSON, and DecoderFailedError when the decoder throws.
 *
 * Equal to JSON.parse of the whole: the body is the part before the array, the array, and the
 * part after. JSON.parse accepts the outer parts with `[]` in the array's place and each element
 * on its own, and the scan checked that only JSON whitespace and commas sit between elements, so
 * the whole is valid JSON, whose value is the outer one with the elements as its results (the
 * array the scan found is the one JSON.parse keeps: the last `results` key, spelt without escapes).
 * Splitting the UTF-8 decoding at structural characters, which are ASCII, changes nothing either:
 * a broken sequence before one decodes to U+FFFD in both ways.
 *
 * A record may be decoded and the body still turn out invalid further on; the decoder only maps,
 * so that work is just dropped with the page.
 */
export function parseBody(body: Buffer, decodeRecord?: RecordDecoder<unknown>): ParsedBody {
  const pieces = parsePieces(body, decodeRecord);
  let step = pieces.next();
  while (!step.done) step = pieces.next();
  return step.value;
}

/**
 * parseBody, letting the event loop turn every DECODE_SLICE records: a page of 1000 takes 10-20
 * ms to parse and decode, and meanwhile the pages being written wait for their next statement,
 * which they now get within a slice's time.
 */
export async function parseBodyInSlices(body: Buffer, decodeRecord?: RecordDecoder<unknown>): Promise<ParsedBody> {
  const pieces = parsePieces(body, decodeRecord);
  let step = pieces.next();
  while (!step.done) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    step = pieces.next();
  }
  return step.value;
}

const DECODE_SLICE = 100;

/** parseBody's work, pausing (yield) between slices of records. */
function* parsePieces(body: Buffer, decodeRecord: RecordDecoder<unknown> | undefined): Generator<void, ParsedBody> {
  const layout = resultsLayout(body);
  if (layout !== null) {
    const parsed = yield* parseRecords(body, layout, decodeRecord);
    if (parsed !== null) return parsed;
    // Not valid piece by piece: the whole body decides, and its error is the one to report.
  }
  return { value: JSON.parse(body.toString('utf8')) as unknown, sent: null, decoded: false };
}

function* parseRecords(
  body: Buffer,
  layout: ResultsLayout,
  decodeRecord: RecordDecoder<unknown> | undefined,
): Generator<void, ParsedBody | null> {
  let outer: Record<string, unknown>;
  try {
    outer = JSON.parse(`${body.toString('utf8', 0, layout.start)}[]${body.toString('utf8', layout.end)}`) as Record<
      string,
      unknown
    >;
  } catch {
    return null;
  }
  const records = new Array<unknown>(layout.ranges.length);
  const sent = new Array<SentRecord>(layout.ranges.length);
  for (let r = 0; r < layout.ranges.length; r++) {
    if (r > 0 && r % DECODE_SLICE === 0) yield;
    const bytes = layout.ranges[r]!;
    let record: unknown;
    try {
      record = JSON.parse(bytes.toString('utf8'));
    } catch {
      return null;
    }
    sent[r] = { bytes, longNumbers: layout.longNumbers[r]! };
    if (!decodeRecord) {
      records[r] = record;
      continue;
    }
    try {
      records[r] = decodeRecord(record, sent[r]);
    } catch (error) {
      throw new DecoderFailedError(error);
    }
  }
  outer.results = records;
  return { value: outer, sent, decoded: decodeRecord !== undefined };
}
