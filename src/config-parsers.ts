// The parsers settings are read with (config-schema.ts). Each says in plain words what it expects;
// loadConfig (config.ts) adds the variable's name and what it got (never a secret's value). A
// setting added later should use these, so its message reads like the others
// (test/unit/config.test.ts checks every setting's).
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';

/** A setting read from its text: `parse` gives the value, or undefined when the text is not one. */
export function setting<T>(expected: string, parse: (text: string) => T | undefined) {
  return z.string().transform((text, ctx): T => {
    const value = parse(text.trim());
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: expected, params: { expected: true } });
      return z.NEVER;
    }
    return value;
  });
}

/** 604800 -> " (7 days)": the bounds of a duration, readable. */
function span(seconds: number): string {
  for (const [unit, size] of [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return ` (${seconds / size} ${unit}${seconds === size ? '' : 's'})`;
  }
  return '';
}

export const integer = (min: number, max: number, unit?: string) =>
  setting(
    `a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}${unit === 'seconds' ? span(max) : ''}`,
    (text) => {
      const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
  );

/** Seconds, fractions allowed; `above`: the lower bound itself is not allowed (a timeout of 0). */
export const seconds = (min: number, max: number, { above = false } = {}) =>
  setting(
    `a number of seconds ${above ? `greater than ${min} and at most` : `from ${min} to`} ${max}${span(max)}`,
    (text) => {
      const n = /^\+?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : NaN;
      return n >= min && n <= max && (!above || n > min) ? n : undefined;
    },
  );
export const positiveSeconds = (max: number) => seconds(0, max, { above: true });

export const httpUrl = (what: string) =>
  setting(`an http:// or https:// URL (${what})`, (text) => {
    const url = URL.canParse(text) ? new URL(text) : undefined;
    return url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' ? text : undefined;
  });

export const cron = (orOff = false) =>
  setting(
    `a cron expression of 5 fields (or 6, seconds first), e.g. "*/5 * * * *"${orOff ? ", or 'off'" : ''}`,
    (text) => ((orOff && text === 'off') || isValidCron(text) ? text : undefined),
  );

export const oneOf = <const T extends readonly string[]>(values: T) =>
  setting(`one of ${values.join(', ')}`, (text) => values.find((v): v is T[number] => v === text.toLowerCase()));

export const matching = (pattern: RegExp, expected: string) =>
  setting(expected, (text) => (pattern.test(text) ? text : undefined));
