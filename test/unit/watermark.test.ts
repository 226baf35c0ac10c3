import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { formatDateTimeFilter } from '../../src/provet/filters.js';
import { sinceFor } from '../../src/sync/run.js';

const logger = createLogger('silent');
const providerNow = new Date('2024-03-01T12:00:00Z');

describe('sinceFor', () => {
  it('reads everything on a full run or without a watermark', () => {
    expect(
      sinceFor('clients', new Map([['clients', '2024-03-01T11:00:00Z']]), providerNow, 120, 'full', logger),
    ).toEqual({ since: null, repair: false });
    expect(sinceFor('clients', new Map(), providerNow, 120, 'incremental', logger)).toEqual({
      since: null,
      repair: false,
    });
  });

  it('subtracts the lookback from the stored watermark', () => {
    const result = sinceFor(
      'clients',
      new Map([['clients', '2024-03-01T11:00:00.000000Z']]),
      providerNow,
      120,
      'incremental',
      logger,
    );
    expect(result.since?.toISOString()).toBe('2024-03-01T10:58:00.000Z');
    expect(formatDateTimeFilter(result.since!)).toBe('2024-03-01T10:58:00.000000+00:00');
  });

  it('distrusts a watermark ahead of Provet clock: full read and permission to move it back', () => {
    const result = sinceFor(
      'patients',
      new Map([['patients', '2030-01-01T00:00:00Z']]),
      providerNow,
      120,
      'incremental',
      logger,
    );
    expect(result).toEqual({ since: null, repair: true });
  });

  it('encodes the filter so a + offset survives the query string', () => {
    const query = new URLSearchParams({
      modified__gte: formatDateTimeFilter(new Date('2024-03-01T10:58:00Z')),
    }).toString();
    expect(query).toBe('modified__gte=2024-03-01T10%3A58%3A00.000000%2B00%3A00');
  });
});
