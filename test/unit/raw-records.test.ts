import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBody, parseBodyInSlices, type SentRecord } from '../../src/provet/raw-records.js';

const ranges = (text: string) => parseBody(Buffer.from(text)).sent?.map(({ bytes }) => bytes.toString('utf8')) ?? null;

describe('records as sent', () => {
  it('finds each record of results as sent, whatever surrounds it', () => {
    const body =
      ' {"count": 2, "next": "http://x/?page=2", "extra": {"results": [9]}, "results" : [ {"id":1,"a":"]}\\"["} ,\n{"id": 2, "b": [[], {}]}] , "num_pages":1}';
    expect(ranges(body)).toEqual(['{"id":1,"a":"]}\\"["}', '{"id": 2, "b": [[], {}]}']);
    expect(ranges('{"results":[]}')).toEqual([]);
  });

  it('takes the last results, as JSON.parse does, and gives up on an escaped key', () => {
    expect(ranges('{"results":[{"id":1}],"results":[{"id":2}]}')).toEqual(['{"id":2}']);
    expect(ranges('{"results":[{"id":1}],"res\\u0075lts":[{"id":2}]}')).toBeNull();
    expect(ranges('[{"id":1}]')).toBeNull();
    expect(ranges('{"count":1}')).toBeNull();
  });

  it('marks the records holding a number JSON.parse may have rounded, and only numbers count', () => {
    const body =
      '{"results":[{"a":1e400},{"a":"1e400"},{"a":123456789012345},{"a":-1234567890123456},{"a":[1.5e-10]},{"a":2E+100},{"a":0.000000000000001},{"a":"12345678901234567"}, 7e-1000]}';
    expect(parseBody(Buffer.from(body)).sent?.map((s) => s.longNumbers)).toEqual([
      true,
      false,
      false,
      true,
      false,
      true,
      true,
      false,
      true,
    ]);
  });
});

/** JSON.parse's verdict on a body, as comparable text: the value written out again, or that it throws. */
function verdict(parse: () => unknown): string {
  try {
    return JSON.stringify(parse()) ?? 'undefined';
  } catch (error) {
    return error instanceof SyntaxError ? 'SyntaxError' : `unexpected ${String(error)}`;
  }
}

/** Generated page bodies in every layout JSON allows, as bytes. */
const pageBodies = fc
  .tuple(
    fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 6 }),
    fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    fc.constantFrom(undefined, 0, 2, '\t'),
  )
  .map(([records, others, indent]) => ({
    records,
    others,
    body: Buffer.from(JSON.stringify({ ...others, results: records }, null, indent)),
  }));

describe('parseBody', () => {
  it('parses a page record by record into what JSON.parse makes of the whole', () => {
    fc.assert(
      fc.property(pageBodies, ({ records, others, body }) => {
        const { value, sent } = parseBody(body);
        expect(JSON.stringify(value)).toBe(JSON.stringify(JSON.parse(body.toString('utf8'))));
        if (sent === null) {
          expect(Object.keys(others).some((k) => JSON.stringify(k).includes('\\'))).toBe(true);
          return;
        }
        expect(sent.map(({ bytes }) => JSON.parse(bytes.toString('utf8')) as unknown)).toEqual(records);
      }),
      { numRuns: 500, seed: 5 },
    );
  });

  it('accepts exactly what JSON.parse accepts, and parses it the same, when the body is damaged', () => {
    // Damage where it matters: structure, strings, escapes, and bytes that are not UTF-8.
    const damage = fc.constantFrom(
      ...'{}[],:" \\\n0a-.e'.split('').map((c) => Buffer.from(c)),
      Buffer.from([0xe2]),
      Buffer.from([0xff]),
      Buffer.from([0x0b]),
      Buffer.from([0x00]),
      Buffer.from('\u00d6'),
    );
    fc.assert(
      fc.property(
        pageBodies,
        fc.nat(),
        fc.constantFrom('insert', 'replace', 'delete', 'truncate'),
        damage,
        ({ body }, at, how, bytes) => {
          const i = at % (body.length + 1);
          const damaged =
            how === 'insert'
              ? Buffer.concat([body.subarray(0, i), bytes, body.subarray(i)])
              : how === 'replace'
                ? Buffer.concat([body.subarray(0, i), bytes, body.subarray(i + 1)])
                : how === 'delete'
                  ? Buffer.concat([body.subarray(0, i), body.subarray(i + 1)])
                  : body.subarray(0, i);
          expect(verdict(() => parseBody(damaged).value)).toBe(verdict(() => JSON.parse(damaged.toString('utf8'))));
        },
      ),
      { numRuns: 3000, seed: 6 },
    );
  });

  it('gives JSON.parse of the whole its say on a bad body, and no records as sent for a body without results', () => {
    expect(() => parseBody(Buffer.from('{"results":[{"id":1},]}'))).toThrow(SyntaxError);
    expect(() => parseBody(Buffer.from('{"results":[{"id":1}] x'))).toThrow(SyntaxError);
    expect(parseBody(Buffer.from('{"access_token":"t"}'))).toEqual({
      value: { access_token: 't' },
      sent: null,
      decoded: false,
    });
    expect(parseBody(Buffer.from('[{"id":1}]')).sent).toBeNull();
    const page = parseBody(Buffer.from('{"count":1,"results":[{"n":"\u00d6"}],"next":null}'));
    expect(page.value).toEqual({ count: 1, results: [{ n: '\u00d6' }], next: null });
    expect(page.sent?.map((s) => s.bytes.toString('utf8'))).toEqual(['{"n":"\u00d6"}']);
  });

  it("hands each record to the decoder as it is parsed, and the decoder's errors to the caller", () => {
    const calls: string[] = [];
    const decode = (record: unknown, sent: SentRecord | undefined) => {
      calls.push(sent ? sent.bytes.toString('utf8') : 'no bytes');
      return { decoded: record };
    };
    const page = parseBody(Buffer.from('{"count":2,"results":[{"id":1}, {"id":2}]}'), decode);
    expect(page).toMatchObject({
      value: { count: 2, results: [{ decoded: { id: 1 } }, { decoded: { id: 2 } }] },
      decoded: true,
    });
    expect(calls).toEqual(['{"id":1}', '{"id":2}']);
    // A body the scan gives up on is parsed whole and left undecoded: the caller decodes it once it is known to be a page.
    calls.length = 0;
    expect(parseBody(Buffer.from('{"co\\u0075nt":1,"results":[{"id":1}]}'), decode)).toEqual({
      value: { count: 1, results: [{ id: 1 }] },
      sent: null,
      decoded: false,
    });
    expect(calls).toEqual([]);
    // A record that is not JSON sends the body to JSON.parse of the whole, whose error is reported.
    expect(() => parseBody(Buffer.from('{"results":[{"id":1},{"id":}]}'), decode)).toThrow(SyntaxError);
    // A decoder that throws has a bug: its error is not taken for a malformed body, even a SyntaxError.
    const broken = () => {
      throw new SyntaxError('decoder bug');
    };
    expect(() => parseBody(Buffer.from('{"results":[{"id":1}]}'), broken)).toThrow(
      expect.objectContaining({ name: 'DecoderFailedError', error: new SyntaxError('decoder bug') }),
    );
  });

  it('parses a long page in slices, letting other work run between them, to the same result', async () => {
    const body = Buffer.from(JSON.stringify({ count: 250, results: Array.from({ length: 250 }, (_, id) => ({ id })) }));
    const order: string[] = [];
    const ticking = (async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        order.push('tick');
      }
    })();
    const sliced = await parseBodyInSlices(body, (record) => {
      order.push('record');
      return record;
    });
    await ticking;
    expect(sliced).toEqual({ ...parseBody(body), decoded: true });
    const firstTick = order.indexOf('tick');
    expect(firstTick).toBeGreaterThan(0);
    expect(order.slice(firstTick).filter((o) => o === 'record').length).toBeGreaterThan(0);
  });
});
