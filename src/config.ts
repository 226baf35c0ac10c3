// The only reader of process.env. Every setting is parsed once, with zod, into a typed Config;
// every problem is reported at once so a person can fix them all in one go.
// Each setting NAME may also be read from the file named by NAME_FILE (the container secrets
// convention); the file wins over nothing, and setting both is an error.
import { readFileSync } from 'node:fs';
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import { parseFailpointSpec, type FailpointSpec } from './failpoints.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid configuration, ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Settings that hold secrets: never logged, never echoed back in an error. */
export const SECRET_SETTINGS = ['PROVET_CLIENT_SECRET', 'PROVET_API_TOKEN', 'DATABASE_URL', 'WEBHOOK_SECRET'] as const;

export const SETTING_NAMES = [
  'PROVET_BASE_URL',
  'PROVET_CLIENT_ID',
  'PROVET_CLIENT_SECRET',
  'PROVET_TOKEN_URL',
  'PROVET_API_TOKEN',
  'PROVET_PAGE_SIZE',
  'PROVET_REQUEST_TIMEOUT_SECONDS',
  'PROVET_RETRY_DEADLINE_SECONDS',
  'PROVET_MAX_BODY_MB',
  'PROVET_RATE_WINDOW_SECONDS',
  'DATABASE_URL',
  'DATABASE_CONNECT_DEADLINE_SECONDS',
  'PROVET_DB_SCHEMA',
  'EMBEDDED_PG_DIR',
  'EMBEDDED_PG_PORT',
  'SYNC_SCHEDULE',
  'SYNC_LOOKBACK_SECONDS',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'PROVET_SYNC_CRASH_AT',
  'HTTP_HOST',
  'HTTP_PORT',
  'READY_MAX_RUN_AGE_SECONDS',
  'READY_MAX_RUNNING_SECONDS',
  'WEBHOOK_SECRET',
  'WEBHOOK_MAX_BODY_BYTES',
  'WEBHOOK_DEBOUNCE_SECONDS',
  'WEBHOOK_MAX_REFETCHES_PER_MINUTE',
  'RECONCILE_SCHEDULE',
] as const;
type SettingName = (typeof SETTING_NAMES)[number];

// Each setting's parser says in plain words what it expects; loadConfig adds the variable's name
// and what it got (never a secret's value). A setting added later should use these helpers, so
// its message reads like the others (test/unit/config.test.ts checks every setting's).

/** A setting read from its text: `parse` gives the value, or undefined when the text is not one. */
function setting<T>(expected: string, parse: (text: string) => T | undefined) {
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

const integer = (min: number, max: number, unit?: string) =>
  setting(
    `a whole number${unit ? ` of ${unit}` : ''} from ${min} to ${max}${unit === 'seconds' ? span(max) : ''}`,
    (text) => {
      const n = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
    },
  );

/** Seconds, fractions allowed; `above`: the lower bound itself is not allowed (a timeout of 0). */
const seconds = (min: number, max: number, { above = false } = {}) =>
  setting(
    `a number of seconds ${above ? `greater than ${min} and at most` : `from ${min} to`} ${max}${span(max)}`,
    (text) => {
      const n = /^\+?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : NaN;
      return n >= min && n <= max && (!above || n > min) ? n : undefined;
    },
  );
const positiveSeconds = (max: number) => seconds(0, max, { above: true });

const httpUrl = (what: string) =>
  setting(`an http:// or https:// URL (${what})`, (text) => {
    const url = URL.canParse(text) ? new URL(text) : undefined;
    return url && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' ? text : undefined;
  });

const cron = (orOff = false) =>
  setting(
    `a cron expression of 5 fields (or 6, seconds first), e.g. "*/5 * * * *"${orOff ? ", or 'off'" : ''}`,
    (text) => ((orOff && text === 'off') || isValidCron(text) ? text : undefined),
  );

const oneOf = <const T extends readonly string[]>(values: T) =>
  setting(`one of ${values.join(', ')}`, (text) => values.find((v): v is T[number] => v === text.toLowerCase()));

const matching = (pattern: RegExp, expected: string) =>
  setting(expected, (text) => (pattern.test(text) ? text : undefined));

const schema = z.object({
  // The Provet API root, e.g. https://provetcloud.com/1234/api/0.1/
  PROVET_BASE_URL: httpUrl('the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/')
    .transform((u) => (u.endsWith('/') ? u : `${u}/`))
    .optional(),
  // OAuth2 client credentials (the current way to authenticate).
  PROVET_CLIENT_ID: z.string().min(1).optional(),
  PROVET_CLIENT_SECRET: z.string().min(1).optional(),
  // Token endpoint; derived from PROVET_BASE_URL as <origin>/<provet_id>/oauth2/token/ when unset.
  PROVET_TOKEN_URL: httpUrl('the OAuth2 token endpoint, e.g. https://provetcloud.com/1234/oauth2/token/').optional(),
  // Legacy static API key (Authorization: Token <key>), for installations that still use one.
  PROVET_API_TOKEN: z.string().min(1).optional(),
  // Records per list request (Provet allows up to 1000; the budget cost grows with it).
  PROVET_PAGE_SIZE: integer(1, 1000, 'records').default(1000),
  // Per attempt, for headers and body together.
  PROVET_REQUEST_TIMEOUT_SECONDS: positiveSeconds(600).default(30),
  // How long one request keeps being retried through errors before the run gives up.
  PROVET_RETRY_DEADLINE_SECONDS: positiveSeconds(3600).default(180),
  // A response body larger than this is refused (protects memory from an endless body).
  PROVET_MAX_BODY_MB: integer(1, 1024, 'megabytes').default(64),
  // Provet's rate-limit window; only the simulator's time-compressed mode needs another value.
  PROVET_RATE_WINDOW_SECONDS: positiveSeconds(3600).default(60),
  // PostgreSQL connection string; unset: an embedded PostgreSQL is started (zero configuration).
  DATABASE_URL: matching(/^postgres(ql)?:\/\/./, 'a postgres:// or postgresql:// connection string').optional(),
  // How long to keep trying to reach the database before a run fails.
  DATABASE_CONNECT_DEADLINE_SECONDS: positiveSeconds(3600).default(60),
  // The schema that holds every table of this installation's mirror.
  PROVET_DB_SCHEMA: matching(
    /^[a-z_][a-z0-9_]{0,62}$/,
    'a lower-case SQL identifier: letters a-z, digits and _, not starting with a digit, at most 63 characters',
  ).default('provet'),
  // Embedded PostgreSQL (only without DATABASE_URL): data folder and port.
  EMBEDDED_PG_DIR: z.string().min(1).default('.provet-sync/postgres'),
  EMBEDDED_PG_PORT: integer(1024, 65535).default(54329),
  // When the daemon runs a sync (cron syntax, seconds field optional).
  SYNC_SCHEDULE: cron().default('*/5 * * * *'),
  // Each incremental run re-reads this much before the watermark, to absorb clock and commit lag.
  SYNC_LOOKBACK_SECONDS: integer(0, 7 * 24 * 3600, 'seconds').default(120),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Log lines as JSON (one object a line) or pretty (readable lines); unset: pretty when the log
  // stream is a terminal, else JSON.
  LOG_FORMAT: oneOf(['json', 'pretty']).optional(),
  // Test-only: kill the process (SIGKILL) at a named failpoint, '<point>[:<n>][@<kind>]' (see
  // failpoints.ts). Checked here with every other setting, but not part of Config: the CLI asks
  // readFailpointSpec for it, so production code never carries it.
  PROVET_SYNC_CRASH_AT: setting('<point>[:<n>][@<kind>] (see src/failpoints.ts)', (text) => {
    try {
      return parseFailpointSpec(text);
    } catch {
      return undefined;
    }
  }).optional(),
  // The daemon's HTTP server (/healthz, /readyz, /metrics, webhooks): address and port (0: any free port).
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: integer(0, 65535).default(8080),
  // /readyz fails when the last scheduled run landed longer ago than this; unset: 3 × the schedule's interval.
  READY_MAX_RUN_AGE_SECONDS: positiveSeconds(30 * 24 * 3600).optional(),
  // /readyz fails when a run has been 'running' longer than this (stuck).
  READY_MAX_RUNNING_SECONDS: positiveSeconds(7 * 24 * 3600).default(3600),
  // Enables POST /webhooks/provet/<WEBHOOK_SECRET>; unset, the endpoint does not exist. It sits in a URL path.
  WEBHOOK_SECRET: matching(
    /^[A-Za-z0-9._~-]{24,256}$/,
    '24 to 256 URL-safe characters (letters, digits, . _ ~ -)',
  ).optional(),
  // Webhook bodies larger than this are refused with 413 (Provet sends a type and an id).
  WEBHOOK_MAX_BODY_BYTES: integer(64, 1024 * 1024, 'bytes').default(8192),
  // Hints are collected this long before a re-fetch run, so a burst for one record costs one fetch.
  WEBHOOK_DEBOUNCE_SECONDS: seconds(0, 300).default(2),
  // Webhook re-fetches (GET client/<id>/, patient/<id>/) in any rolling minute; further hints wait
  // queued. The default is well under Provet's per-record budgets (500 a minute for clients, 1,200
  // for patients); at most 500, so a flood of client hints alone cannot exceed the smaller budget
  // and meet 429s (the API client would pace it anyway, but then hints would wait on the budget).
  WEBHOOK_MAX_REFETCHES_PER_MINUTE: integer(1, 500, 're-fetches').default(120),
  // When the daemon reconciles (cron), or 'off'. Default daily at 03:17.
  RECONCILE_SCHEDULE: cron(true).default('17 3 * * *'),
});

type Settings = z.infer<typeof schema>;

type ProvetAuthConfig =
  { kind: 'oauth'; clientId: string; clientSecret: string; tokenUrl: string } | { kind: 'token'; token: string };

export interface ProvetConfig {
  baseUrl: string;
  auth: ProvetAuthConfig;
  pageSize: number;
  requestTimeoutMs: number;
  retryDeadlineMs: number;
  maxBodyBytes: number;
  rateWindowMs: number;
}

export interface DatabaseConfig {
  /** Unset: start the embedded PostgreSQL. */
  url: string | undefined;
  schema: string;
  connectDeadlineMs: number;
  /** dataDirChosen: EMBEDDED_PG_DIR was set (else a fallback folder may be used, see db/embedded.ts). */
  embedded: { dataDir: string; dataDirChosen: boolean; port: number };
}

interface DaemonConfig {
  httpHost: string;
  httpPort: number;
  /** undefined: 3 × the schedule's interval. */
  readyMaxRunAgeSeconds: number | undefined;
  readyMaxRunningSeconds: number;
  /** null: no scheduled reconciliation. */
  reconcileSchedule: string | null;
  /** undefined: no webhook endpoint. */
  webhook: { secret: string; maxBodyBytes: number; debounceMs: number; maxRefetchesPerMinute: number } | undefined;
}

export interface Config {
  provet: ProvetConfig | undefined;
  database: DatabaseConfig;
  daemon: DaemonConfig;
  sync: { schedule: string; lookbackSeconds: number };
  logLevel: Settings['LOG_LEVEL'];
  /** LOG_LEVEL was set (the demo is quieter by default than the daemon). */
  logLevelExplicit: boolean;
  /** LOG_FORMAT; undefined: pretty when the log stream is a terminal, else JSON. */
  logFormat: Settings['LOG_FORMAT'];
}

type Env = Record<string, string | undefined>;

interface RawSettings {
  /** The text of every setting that was set, from NAME or from the file NAME_FILE names. */
  text: Partial<Record<SettingName, string>>;
  /** Settings whose text came from a file: messages say so. */
  fromFile: Set<SettingName>;
  /** Settings that were given but cannot be used (a file that cannot be read, NAME and NAME_FILE both), with the problem. */
  unusable: Map<SettingName, string>;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
};

/** Reads NAME or NAME_FILE for every setting; a problem with a file is kept in `unusable`, not thrown. */
function readRawSettings(env: Env): RawSettings {
  const raw: RawSettings = { text: {}, fromFile: new Set(), unusable: new Map() };
  for (const name of SETTING_NAMES) {
    const direct = env[name] || undefined; // set to nothing: unset
    const file = env[`${name}_FILE`] || undefined;
    if (direct !== undefined && file !== undefined) {
      raw.unusable.set(name, `${name} and ${name}_FILE are both set; set only one`);
    } else if (file !== undefined) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        raw.unusable.set(
          name,
          `${name}_FILE: expected a readable file holding ${name}, got ${file}, which cannot be read (${code}: ${FILE_ERRORS[code] ?? (err as Error).message})`,
        );
        continue;
      }
      if (text === '') {
        raw.unusable.set(name, `${name}_FILE: expected a file holding ${name}, got ${file}, which is empty`);
        continue;
      }
      raw.text[name] = text;
      raw.fromFile.add(name);
    } else if (direct !== undefined) {
      raw.text[name] = direct;
    }
  }
  return raw;
}

/** `NAME: expected <in plain words>, got "<value>"`: a secret's value is never shown. */
function wrongValue(name: SettingName, text: string, fromFile: boolean, issue: z.core.$ZodIssue | undefined): string {
  // The helpers above word `expected`; a bare zod check would only have zod's own message.
  const expected = issue?.code === 'custom' ? issue.message : `a valid value (${issue?.message ?? 'refused'})`;
  const secret = (SECRET_SETTINGS as readonly string[]).includes(name);
  const got = secret
    ? 'a value that is not shown (a secret)'
    : JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  return `${name}: expected ${expected}, got ${got}${fromFile ? ` (read from ${name}_FILE)` : ''}`;
}

/** <origin>/<provet_id>/oauth2/token/ from <origin>/<provet_id>/api/0.1/ */
export function deriveTokenUrl(baseUrl: string): string | undefined {
  const url = new URL(baseUrl);
  const match = /^(.*\/)api\/0\.1\/$/.exec(url.pathname);
  if (!match) return undefined;
  return `${url.origin}${match[1]}oauth2/token/`;
}

export interface LoadOptions {
  /** The command talks to Provet: the API settings are required. */
  needsProvet: boolean;
  /** The command's name, for "required by" in messages. */
  command?: string;
}

/** The test-only failpoint spec (PROVET_SYNC_CRASH_AT), once loadConfig has accepted the environment. */
export function readFailpointSpec(env: Env): FailpointSpec | undefined {
  const text = env.PROVET_SYNC_CRASH_AT?.trim();
  return text ? parseFailpointSpec(text) : undefined;
}

export function loadConfig(env: Env, options: LoadOptions): Config {
  const problems: string[] = [];
  const { text: raw, fromFile, unusable } = readRawSettings(env);
  // Each setting parsed on its own, so that one wrong value hides neither the others nor what is missing.
  const values: Record<string, unknown> = {}; // each a setting's parsed value: a Partial<Settings>
  for (const name of Object.keys(schema.shape) as SettingName[]) {
    const unusableBecause = unusable.get(name);
    if (unusableBecause !== undefined) {
      problems.push(unusableBecause);
      continue;
    }
    const result = schema.shape[name].safeParse(raw[name]);
    if (result.success) values[name] = result.data;
    else problems.push(wrongValue(name, raw[name] ?? '', fromFile.has(name), result.error.issues[0]));
  }
  const given = (name: SettingName) => raw[name] !== undefined || unusable.has(name);
  checkProvetSettings(values, given, options, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const s = values as Settings;
  const provet = buildProvetConfig(s);
  return {
    provet,
    database: {
      url: s.DATABASE_URL,
      schema: s.PROVET_DB_SCHEMA,
      connectDeadlineMs: s.DATABASE_CONNECT_DEADLINE_SECONDS * 1000,
      embedded: {
        dataDir: s.EMBEDDED_PG_DIR,
        dataDirChosen: raw.EMBEDDED_PG_DIR !== undefined,
        port: s.EMBEDDED_PG_PORT,
      },
    },
    sync: { schedule: s.SYNC_SCHEDULE, lookbackSeconds: s.SYNC_LOOKBACK_SECONDS },
    daemon: {
      httpHost: s.HTTP_HOST,
      httpPort: s.HTTP_PORT,
      readyMaxRunAgeSeconds: s.READY_MAX_RUN_AGE_SECONDS,
      readyMaxRunningSeconds: s.READY_MAX_RUNNING_SECONDS,
      reconcileSchedule: s.RECONCILE_SCHEDULE === 'off' ? null : s.RECONCILE_SCHEDULE,
      webhook: s.WEBHOOK_SECRET
        ? {
            secret: s.WEBHOOK_SECRET,
            maxBodyBytes: s.WEBHOOK_MAX_BODY_BYTES,
            debounceMs: s.WEBHOOK_DEBOUNCE_SECONDS * 1000,
            maxRefetchesPerMinute: s.WEBHOOK_MAX_REFETCHES_PER_MINUTE,
          }
        : undefined,
    },
    logLevel: s.LOG_LEVEL,
    logLevelExplicit: raw.LOG_LEVEL !== undefined,
    logFormat: s.LOG_FORMAT,
  };
}

/**
 * The Provet settings together: the API root and one way to authenticate, required when the
 * command talks to Provet (or when PROVET_BASE_URL is set at all). `s` holds the settings that
 * parsed; `given` says which were set, valid or not.
 */
function checkProvetSettings(
  s: Partial<Settings>,
  given: (name: SettingName) => boolean,
  options: LoadOptions,
  problems: string[],
): void {
  if (!options.needsProvet && !given('PROVET_BASE_URL')) return;
  const by = options.command ? ` by '${options.command}'` : '';
  if (!given('PROVET_BASE_URL')) {
    problems.push(
      `PROVET_BASE_URL: required${by} but not set; expected the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/`,
    );
  }
  const oauth = given('PROVET_CLIENT_ID') || given('PROVET_CLIENT_SECRET');
  if (oauth && given('PROVET_API_TOKEN')) {
    problems.push(
      'PROVET_API_TOKEN and PROVET_CLIENT_ID/PROVET_CLIENT_SECRET are both set; choose one way to authenticate',
    );
  } else if (oauth) {
    if (!given('PROVET_CLIENT_ID'))
      problems.push('PROVET_CLIENT_ID: required with PROVET_CLIENT_SECRET (OAuth2 needs both) but not set');
    if (!given('PROVET_CLIENT_SECRET'))
      problems.push('PROVET_CLIENT_SECRET: required with PROVET_CLIENT_ID (OAuth2 needs both) but not set');
    if (
      !given('PROVET_TOKEN_URL') &&
      s.PROVET_BASE_URL !== undefined &&
      deriveTokenUrl(s.PROVET_BASE_URL) === undefined
    ) {
      problems.push(
        'PROVET_TOKEN_URL: required but not set, since PROVET_BASE_URL does not end in /<provet_id>/api/0.1/ to derive it from; ' +
          'expected the OAuth2 token endpoint, e.g. https://provetcloud.com/1234/oauth2/token/',
      );
    }
  } else if (!given('PROVET_API_TOKEN')) {
    problems.push(
      `credentials: required${by} but none is set; expected PROVET_CLIENT_ID and PROVET_CLIENT_SECRET (OAuth2), or PROVET_API_TOKEN (legacy static key)`,
    );
  }
}

/** The API's configuration, once checkProvetSettings found no problem; undefined when PROVET_BASE_URL is unset. */
function buildProvetConfig(s: Settings): ProvetConfig | undefined {
  if (s.PROVET_BASE_URL === undefined) return undefined;
  let auth: ProvetAuthConfig;
  if (s.PROVET_API_TOKEN !== undefined) {
    auth = { kind: 'token', token: s.PROVET_API_TOKEN };
  } else {
    const tokenUrl = s.PROVET_TOKEN_URL ?? deriveTokenUrl(s.PROVET_BASE_URL);
    if (s.PROVET_CLIENT_ID === undefined || s.PROVET_CLIENT_SECRET === undefined || tokenUrl === undefined)
      return undefined; // reported
    auth = { kind: 'oauth', clientId: s.PROVET_CLIENT_ID, clientSecret: s.PROVET_CLIENT_SECRET, tokenUrl };
  }
  return {
    baseUrl: s.PROVET_BASE_URL,
    auth,
    pageSize: s.PROVET_PAGE_SIZE,
    requestTimeoutMs: s.PROVET_REQUEST_TIMEOUT_SECONDS * 1000,
    retryDeadlineMs: s.PROVET_RETRY_DEADLINE_SECONDS * 1000,
    maxBodyBytes: s.PROVET_MAX_BODY_MB * 1024 * 1024,
    rateWindowMs: s.PROVET_RATE_WINDOW_SECONDS * 1000,
  };
}
