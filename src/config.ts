// The only reader of process.env. Every setting is parsed once, with zod, into a typed Config;
// every problem is reported at once so a person can fix them all in one go.
// Each setting NAME may also be read from the file named by NAME_FILE (the container secrets
// convention); the file wins over nothing, and setting both is an error.
import { readFileSync } from 'node:fs';
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import { CRASH_POINTS, type CrashPointName } from './sync/crash-points.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Settings that hold secrets: never logged, never echoed back in an error. */
export const SECRET_SETTINGS = ['PROVET_CLIENT_SECRET', 'PROVET_API_TOKEN', 'DATABASE_URL', 'WEBHOOK_SECRET'] as const;

const SETTING_NAMES = [
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
  'PROVET_SYNC_CRASH_AT',
  'HTTP_HOST',
  'HTTP_PORT',
  'READY_MAX_RUN_AGE_SECONDS',
  'READY_MAX_RUNNING_SECONDS',
  'WEBHOOK_SECRET',
  'WEBHOOK_MAX_BODY_BYTES',
  'WEBHOOK_DEBOUNCE_SECONDS',
  'RECONCILE_SCHEDULE',
] as const;
type SettingName = (typeof SETTING_NAMES)[number];

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const positiveSeconds = (max: number) => z.coerce.number().positive().max(max);

const schema = z.object({
  // The Provet API root, e.g. https://provetcloud.com/1234/api/0.1/
  PROVET_BASE_URL: z
    .url({ protocol: /^https?$/ })
    .transform((u) => (u.endsWith('/') ? u : `${u}/`))
    .optional(),
  // OAuth2 client credentials (the current way to authenticate).
  PROVET_CLIENT_ID: z.string().min(1).optional(),
  PROVET_CLIENT_SECRET: z.string().min(1).optional(),
  // Token endpoint; derived from PROVET_BASE_URL as <origin>/<provet_id>/oauth2/token/ when unset.
  PROVET_TOKEN_URL: z.url({ protocol: /^https?$/ }).optional(),
  // Legacy static API key (Authorization: Token <key>), for installations that still use one.
  PROVET_API_TOKEN: z.string().min(1).optional(),
  // Records per list request (Provet allows up to 1000; the budget cost grows with it).
  PROVET_PAGE_SIZE: integer(1, 1000).default(1000),
  // Per attempt, for headers and body together.
  PROVET_REQUEST_TIMEOUT_SECONDS: positiveSeconds(600).default(30),
  // How long one request keeps being retried through errors before the run gives up.
  PROVET_RETRY_DEADLINE_SECONDS: positiveSeconds(3600).default(180),
  // A response body larger than this is refused (protects memory from an endless body).
  PROVET_MAX_BODY_MB: integer(1, 1024).default(64),
  // Provet's rate-limit window; only the simulator's time-compressed mode needs another value.
  PROVET_RATE_WINDOW_SECONDS: positiveSeconds(3600).default(60),
  // PostgreSQL connection string; unset: an embedded PostgreSQL is started (zero configuration).
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string')
    .optional(),
  // How long to keep trying to reach the database before a run fails.
  DATABASE_CONNECT_DEADLINE_SECONDS: positiveSeconds(3600).default(60),
  // The schema that holds every table of this installation's mirror.
  PROVET_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier (letters, digits, _)')
    .default('provet'),
  // Embedded PostgreSQL (only without DATABASE_URL): data folder and port.
  EMBEDDED_PG_DIR: z.string().min(1).default('.provet-sync/postgres'),
  EMBEDDED_PG_PORT: integer(1024, 65535).default(54329),
  // When the daemon runs a sync (cron syntax, seconds field optional).
  SYNC_SCHEDULE: z
    .string()
    .refine((s) => isValidCron(s), 'is not a valid cron expression')
    .default('*/5 * * * *'),
  // Each incremental run re-reads this much before the watermark, to absorb clock and commit lag.
  SYNC_LOOKBACK_SECONDS: integer(0, 7 * 24 * 3600).default(120),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Test-only: kill the process (SIGKILL) at a named point, '<point>' or '<point>:<n>'; see sync/crash-points.ts.
  PROVET_SYNC_CRASH_AT: z
    .string()
    .regex(new RegExp(`^(${CRASH_POINTS.join('|')})(:[1-9]\\d*)?$`), `must be <point>[:<n>] with a point among ${CRASH_POINTS.join(', ')}`)
    .transform((s) => {
      const [point, n] = s.split(':');
      return { point: point as CrashPointName, occurrence: n ? Number(n) : 1 };
    })
    .optional(),
  // The daemon's HTTP server (/healthz, /readyz, /metrics, webhooks): address and port (0: any free port).
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: integer(0, 65535).default(8080),
  // /readyz fails when the last scheduled run landed longer ago than this; unset: 3 × the schedule's interval.
  READY_MAX_RUN_AGE_SECONDS: positiveSeconds(30 * 24 * 3600).optional(),
  // /readyz fails when a run has been 'running' longer than this (stuck).
  READY_MAX_RUNNING_SECONDS: positiveSeconds(7 * 24 * 3600).default(3600),
  // Enables POST /webhooks/provet/<WEBHOOK_SECRET>; unset, the endpoint does not exist. It sits in a URL path.
  WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9._~-]{24,256}$/, 'must be 24 to 256 URL-safe characters (letters, digits, . _ ~ -)')
    .optional(),
  // Webhook bodies larger than this are refused with 413 (Provet sends a type and an id).
  WEBHOOK_MAX_BODY_BYTES: integer(64, 1024 * 1024).default(8192),
  // Hints are collected this long before a re-fetch run, so a burst for one record costs one fetch.
  WEBHOOK_DEBOUNCE_SECONDS: z.coerce.number().min(0).max(300).default(2),
  // When the daemon reconciles (cron), or 'off'. Default daily at 03:17.
  RECONCILE_SCHEDULE: z
    .string()
    .refine((s) => s === 'off' || isValidCron(s), "is not a valid cron expression (or 'off')")
    .default('17 3 * * *'),
});

export type Settings = z.infer<typeof schema>;

export type ProvetAuthConfig =
  | { kind: 'oauth'; clientId: string; clientSecret: string; tokenUrl: string }
  | { kind: 'token'; token: string };

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

export interface DaemonConfig {
  httpHost: string;
  httpPort: number;
  /** undefined: 3 × the schedule's interval. */
  readyMaxRunAgeSeconds: number | undefined;
  readyMaxRunningSeconds: number;
  /** null: no scheduled reconciliation. */
  reconcileSchedule: string | null;
  /** undefined: no webhook endpoint. */
  webhook: { secret: string; maxBodyBytes: number; debounceMs: number } | undefined;
}

export interface Config {
  provet: ProvetConfig | undefined;
  database: DatabaseConfig;
  daemon: DaemonConfig;
  sync: { schedule: string; lookbackSeconds: number; crashAt: { point: CrashPointName; occurrence: number } | undefined };
  logLevel: Settings['LOG_LEVEL'];
  /** LOG_LEVEL was set (the demo is quieter by default than the daemon). */
  logLevelExplicit: boolean;
}

type Env = Record<string, string | undefined>;

/** Reads NAME or NAME_FILE for every setting; a problem with a file is reported, not thrown. */
function readRawSettings(env: Env, problems: string[]): Partial<Record<SettingName, string>> {
  const raw: Partial<Record<SettingName, string>> = {};
  for (const name of SETTING_NAMES) {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    if (direct !== undefined && direct !== '' && file) {
      problems.push(`${name} and ${name}_FILE are both set; set only one`);
      raw[name] = direct; // so the conflict is the only problem reported about this setting
      continue;
    }
    if (file) {
      try {
        raw[name] = readFileSync(file, 'utf8').trim();
      } catch (err) {
        problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    } else if (direct !== undefined && direct !== '') {
      raw[name] = direct;
    }
  }
  return raw;
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
}

export function loadConfig(env: Env, options: LoadOptions): Config {
  const problems: string[] = [];
  const raw = readRawSettings(env, problems);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      // Never echo a secret's value back; zod's messages do not include values, keep it that way.
      problems.push(`${name}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const s = parsed.data;
  const provet = buildProvetConfig(s, options.needsProvet, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    provet,
    database: {
      url: s.DATABASE_URL,
      schema: s.PROVET_DB_SCHEMA,
      connectDeadlineMs: s.DATABASE_CONNECT_DEADLINE_SECONDS * 1000,
      embedded: { dataDir: s.EMBEDDED_PG_DIR, dataDirChosen: raw.EMBEDDED_PG_DIR !== undefined, port: s.EMBEDDED_PG_PORT },
    },
    sync: { schedule: s.SYNC_SCHEDULE, lookbackSeconds: s.SYNC_LOOKBACK_SECONDS, crashAt: s.PROVET_SYNC_CRASH_AT },
    daemon: {
      httpHost: s.HTTP_HOST,
      httpPort: s.HTTP_PORT,
      readyMaxRunAgeSeconds: s.READY_MAX_RUN_AGE_SECONDS,
      readyMaxRunningSeconds: s.READY_MAX_RUNNING_SECONDS,
      reconcileSchedule: s.RECONCILE_SCHEDULE === 'off' ? null : s.RECONCILE_SCHEDULE,
      webhook: s.WEBHOOK_SECRET
        ? { secret: s.WEBHOOK_SECRET, maxBodyBytes: s.WEBHOOK_MAX_BODY_BYTES, debounceMs: s.WEBHOOK_DEBOUNCE_SECONDS * 1000 }
        : undefined,
    },
    logLevel: s.LOG_LEVEL,
    logLevelExplicit: raw.LOG_LEVEL !== undefined,
  };
}

function buildProvetConfig(s: Settings, required: boolean, problems: string[]): ProvetConfig | undefined {
  const hasOauth = s.PROVET_CLIENT_ID !== undefined || s.PROVET_CLIENT_SECRET !== undefined;
  if (!s.PROVET_BASE_URL) {
    if (required) problems.push('PROVET_BASE_URL: required (the API root, e.g. https://provetcloud.com/1234/api/0.1/)');
    return undefined;
  }
  let auth: ProvetAuthConfig | undefined;
  if (hasOauth && s.PROVET_API_TOKEN) {
    problems.push('PROVET_API_TOKEN and PROVET_CLIENT_ID/PROVET_CLIENT_SECRET are both set; choose one way to authenticate');
  } else if (hasOauth) {
    if (!s.PROVET_CLIENT_ID) problems.push('PROVET_CLIENT_ID: required with PROVET_CLIENT_SECRET');
    if (!s.PROVET_CLIENT_SECRET) problems.push('PROVET_CLIENT_SECRET: required with PROVET_CLIENT_ID');
    const tokenUrl = s.PROVET_TOKEN_URL ?? deriveTokenUrl(s.PROVET_BASE_URL);
    if (!tokenUrl) {
      problems.push('PROVET_TOKEN_URL: required, since PROVET_BASE_URL does not end in /<provet_id>/api/0.1/');
    }
    if (s.PROVET_CLIENT_ID && s.PROVET_CLIENT_SECRET && tokenUrl) {
      auth = { kind: 'oauth', clientId: s.PROVET_CLIENT_ID, clientSecret: s.PROVET_CLIENT_SECRET, tokenUrl };
    }
  } else if (s.PROVET_API_TOKEN) {
    auth = { kind: 'token', token: s.PROVET_API_TOKEN };
  } else {
    problems.push('credentials: set PROVET_CLIENT_ID and PROVET_CLIENT_SECRET (OAuth2), or PROVET_API_TOKEN (legacy)');
  }
  if (!auth) return undefined;
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
