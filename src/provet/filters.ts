// Formatting of filter values for Provet's `field__method=value` query syntax.
//
// Why this matters: Provet silently ignores a filter it cannot parse and answers
// with the whole collection, so a malformed value looks like success and costs a
// full scan. Two traps in particular:
// - a datetime without an explicit offset is read in the installation's local
//   zone, so we always send one (`+00:00`), with microseconds like the API's own
//   timestamps;
// - a literal `+` in a query string arrives as a space (form decoding), which makes
//   the value unparseable. These helpers return raw values: callers put them in a
//   query object and `URLSearchParams` encodes `+` as `%2B`. Never paste the result
//   into a URL string by hand.

/** `2024-03-01T10:00:00.000000+00:00`: UTC, explicit offset, microsecond precision. */
export function formatDateTimeFilter(instant: Date): string {
  const ms = instant.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('formatDateTimeFilter: invalid Date');
  // toISOString gives milliseconds and 'Z'; pad to microseconds, spell out the offset.
  const iso = instant.toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ
  if (!iso.endsWith('Z') || iso.length !== 24) {
    throw new RangeError(`formatDateTimeFilter: year outside 0000-9999: ${iso}`);
  }
  return `${iso.slice(0, 23)}000+00:00`;
}

/** `[1,2,3]`, the list syntax of the `__in` and `__not_in` methods. */
export function formatInFilter(ids: readonly number[]): string {
  for (const id of ids) {
    if (!Number.isSafeInteger(id)) throw new RangeError(`formatInFilter: not an integer id: ${String(id)}`);
  }
  return `[${ids.join(',')}]`;
}
