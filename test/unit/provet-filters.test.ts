import { describe, expect, it } from 'vitest';
import { formatDateTimeFilter, formatInFilter } from '../../src/provet/filters.js';

describe('formatDateTimeFilter', () => {
  it('spells out the offset and microseconds', () => {
    expect(formatDateTimeFilter(new Date('2024-03-01T10:00:00Z'))).toBe('2024-03-01T10:00:00.000000+00:00');
    expect(formatDateTimeFilter(new Date('2024-03-01T12:34:56.789+02:00'))).toBe('2024-03-01T10:34:56.789000+00:00');
  });

  it('survives URLSearchParams as %2B, never a bare + that the server would read as a space', () => {
    const params = new URLSearchParams({ modified__gte: formatDateTimeFilter(new Date('2024-03-01T10:00:00Z')) });
    const query = params.toString();
    expect(query).toContain('%2B00%3A00');
    expect(query).not.toContain('+');
    const url = new URL(`https://example.test/x/?${query}`);
    expect(url.searchParams.get('modified__gte')).toBe('2024-03-01T10:00:00.000000+00:00');
  });

  it('refuses an invalid date instead of sending a filter the API would ignore', () => {
    expect(() => formatDateTimeFilter(new Date('nope'))).toThrow(RangeError);
  });
});

describe('formatInFilter', () => {
  it('formats a bracketed list', () => {
    expect(formatInFilter([1, 2, 3])).toBe('[1,2,3]');
    expect(formatInFilter([])).toBe('[]');
  });

  it('rejects non-integers', () => {
    expect(() => formatInFilter([1.5])).toThrow(RangeError);
    expect(() => formatInFilter([Number.NaN])).toThrow(RangeError);
  });
});
