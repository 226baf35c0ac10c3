import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resultRanges } from '../../src/provet/raw-records.js';

const ranges = (text: string) => resultRanges(Buffer.from(text))?.map((b) => b.toString('utf8')) ?? null;

describe('resultRanges', () => {
  it('finds each record of results as sent, whatever surrounds it', () => {
    const body = ' {"count": 2, "next": "http://x/?page=2", "extra": {"results": [9]}, "results" : [ {"id":1,"a":"]}\\"["} ,\n{"id": 2, "b": [[], {}]}] , "num_pages":1}';
    expect(ranges(body)).toEqual(['{"id":1,"a":"]}\\"["}', '{"id": 2, "b": [[], {}]}']);
    expect(ranges('{"results":[]}')).toEqual([]);
  });

  it('takes the last results, as JSON.parse does, and gives up on an escaped key', () => {
    expect(ranges('{"results":[{"id":1}],"results":[{"id":2}]}')).toEqual(['{"id":2}']);
    expect(ranges('{"results":[{"id":1}],"res\\u0075lts":[{"id":2}]}')).toBeNull();
    expect(ranges('[{"id":1}]')).toBeNull();
    expect(ranges('{"count":1}')).toBeNull();
  });

  it('agrees with JSON.parse on generated pages, laid out in any way JSON allows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue({ maxDepth: 3 })),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        fc.constantFrom(undefined, 0, 2, '\t'),
        (records, others, indent) => {
          const body = JSON.stringify({ ...others, results: records }, null, indent);
          const found = ranges(body);
          // A generated key may hold an escape (a quote, a control character): then null is right.
          if (found === null) {
            expect(Object.keys(others).some((k) => JSON.stringify(k).includes('\\'))).toBe(true);
            return;
          }
          expect(found.map((text) => JSON.parse(text) as unknown)).toEqual(JSON.parse(body).results);
        },
      ),
      { numRuns: 500, seed: 26 },
    );
  });
});
