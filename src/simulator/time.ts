// Timestamps are kept as integer microseconds since the epoch in plain numbers (exact up to
// 2^53, i.e. far beyond any date we render), and rendered the way Django REST Framework
// renders an aware datetime in the installation's zone.

export const MICROS_PER_MS = 1000;
export const MICROS_PER_SECOND = 1_000_000;

/** '+02:00' / '-04:00' / 'Z' -> minutes east of UTC; null when malformed. */
export function parseUtcOffset(text: string): number | null {
  if (text === 'Z') return 0;
  const match = /^([+-])(\d{2}):?(\d{2})$/.exec(text);
  if (!match) return null;
  const hours = Number(match[2]);
  const minutes = Number(match[3]);
  if (hours > 23 || minutes > 59) return null;
  return (match[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function offsetSuffix(offsetMinutes: number): string {
  // DRF turns a trailing '+00:00' into 'Z'; an installation in UTC therefore answers with Z.
  if (offsetMinutes === 0) return 'Z';
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

/** Python's datetime.isoformat(): the fraction is left out entirely when it is zero. */
export function formatTimestamp(micros: number, offsetMinutes: number): string {
  const local = micros + offsetMinutes * 60 * MICROS_PER_SECOND;
  const wholeSecondsMicros = Math.floor(local / MICROS_PER_SECOND) * MICROS_PER_SECOND;
  const fraction = local - wholeSecondsMicros;
  const d = new Date(wholeSecondsMicros / MICROS_PER_MS);
  const text =
    `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}` +
    `T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const fractionText = fraction === 0 ? '' : `.${String(fraction).padStart(6, '0')}`;
  return text + fractionText + offsetSuffix(offsetMinutes);
}

/** 'YYYY-MM-DD' for the given epoch milliseconds, in UTC. */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function validCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A strict 'YYYY-MM-DD', or null. */
export function parseDate(text: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return null;
  return validCalendarDate(Number(match[1]), Number(match[2]), Number(match[3])) ? text : null;
}

const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A datetime filter value -> microseconds since the epoch, or null when unparseable.
 * Accepted: 'YYYY-MM-DD hh:mm+hh:mm' (the filtering page's spelling),
 * 'YYYY-MM-DDThh:mm[:ss[.ffffff]][Z|±hh:mm]' (the sync guide's), and a bare date
 * (midnight). Without an offset the installation's offset applies. A '+' that reached
 * us as a space ('...00:00 02:00') does not match and so makes the filter unparseable.
 */
export function parseDateTime(text: string, installationOffsetMinutes: number): number | null {
  const match = DATETIME.exec(text);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (!validCalendarDate(year, month, day)) return null;
  const hour = Number(match[4] ?? 0);
  const minute = Number(match[5] ?? 0);
  const second = Number(match[6] ?? 0);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const fraction = Number((match[7] ?? '').padEnd(6, '0'));
  const offset = match[8] === undefined ? installationOffsetMinutes : parseUtcOffset(match[8]);
  if (offset === null) return null;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offset * 60_000;
  return ms * MICROS_PER_MS + fraction;
}

/**
 * The simulator's clock: the machine clock plus a settable offset, at microsecond
 * resolution. Write stamps are strictly increasing so that no two writes share a
 * `modified` by accident; moving the clock resets that guard so a clock set back really
 * produces earlier stamps.
 */
export class SimulatorClock {
  private offsetMs: number;
  private lastWriteMicros = -Infinity;

  constructor(offsetMs = 0) {
    this.offsetMs = offsetMs;
  }

  setOffset(ms: number): void {
    this.offsetMs = ms;
    this.lastWriteMicros = -Infinity;
  }

  getOffset(): number {
    return this.offsetMs;
  }

  nowMicros(): number {
    return Math.floor((performance.timeOrigin + performance.now() + this.offsetMs) * MICROS_PER_MS);
  }

  nowMs(): number {
    return Math.floor(this.nowMicros() / MICROS_PER_MS);
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  /** The `modified` stamp for the next write. */
  nextWriteMicros(): number {
    const now = this.nowMicros();
    const stamp = now > this.lastWriteMicros ? now : this.lastWriteMicros + 1;
    this.lastWriteMicros = stamp;
    return stamp;
  }
}
