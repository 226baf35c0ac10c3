// Timestamps are kept as integer microseconds since the epoch in plain numbers (exact up to
// 2^53, i.e. far beyond any date we render), and rendered the way Django REST Framework
// renders an aware datetime in the installation's zone.

export const MICROS_PER_MS = 1000;
const MICROS_PER_SECOND = 1_000_000;

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

/** Days since 1970-01-01 -> [year, month, day] (H. Hinnant's civil_from_days), without a Date. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/**
 * Python's datetime.isoformat(): the fraction is left out entirely when it is zero.
 * Integer arithmetic instead of a Date: this runs twice for every rendered record.
 */
export function formatTimestamp(micros: number, offsetMinutes: number): string {
  const local = micros + offsetMinutes * 60 * MICROS_PER_SECOND;
  const seconds = Math.floor(local / MICROS_PER_SECOND);
  const fraction = local - seconds * MICROS_PER_SECOND;
  const days = Math.floor(seconds / 86400);
  const secondOfDay = seconds - days * 86400;
  const [year, month, day] = civilFromDays(days);
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  const text = `${year}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(secondOfDay % 60)}`;
  const fractionText = fraction === 0 ? '' : `.${String(fraction).padStart(6, '0')}`;
  return text + fractionText + offsetSuffix(offsetMinutes);
}

/** 'YYYY-MM-DD' for the given epoch milliseconds, in UTC. */
export function formatDate(ms: number): string {
  const [year, month, day] = civilFromDays(Math.floor(ms / 86_400_000));
  return `${year}-${pad2(month)}-${pad2(day)}`;
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

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

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
