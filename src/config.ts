// The environment (process.env, handed over by cli.ts; nothing else reads it) made into a typed
// Config: each setting (config-schema.ts) read from NAME or NAME_FILE (config-sources.ts) and
// parsed once, with zod, and every problem reported at once so a person can fix them all in one go.
import type { z } from 'zod';
import { parseFailpointSpec, type FailpointSpec } from './failpoints.js';
import { SECRET_SETTINGS, schema, type SettingName, type Settings } from './config-schema.js';
import { readRawSettings, type Env } from './config-sources.js';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid configuration, ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export type ProvetAuthConfig =
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
  /** How long personal data of deleted records and refused payloads are kept (the purge). */
  retention: { deletedRetentionDays: number; rejectsRetentionDays: number };
  /** Fleet mode: the registry's schema, and the workers' settings. */
  fleet: {
    controlSchema: string;
    /** PROVET_GROUP_SCHEMA: the views across installations. */
    groupSchema: string;
    concurrency: number;
    tickMs: number;
    leaseMs: number;
    /** Webhooks of the installations that have a webhook secret: WEBHOOK_MAX_BODY_BYTES, WEBHOOK_DEBOUNCE_SECONDS. */
    webhookMaxBodyBytes: number;
    webhookDebounceMs: number;
  };
  /** The API client's settings other than where and who: in fleet mode, the same for every installation. */
  provetTuning: Omit<ProvetConfig, 'baseUrl' | 'auth'>;
  logLevel: Settings['LOG_LEVEL'];
  /** LOG_LEVEL was set (the demo is quieter by default than the daemon). */
  logLevelExplicit: boolean;
  /** LOG_FORMAT; undefined: pretty when the log stream is a terminal, else JSON. */
  logFormat: Settings['LOG_FORMAT'];
}

/** `NAME: expected <in plain words>, got "<value>"`: a secret's value is never shown. */
function wrongValue(name: SettingName, text: string, fromFile: boolean, issue: z.core.$ZodIssue | undefined): string {
  // The parsers (config-parsers.ts) word `expected`; a bare zod check would only have zod's own message.
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
    retention: {
      deletedRetentionDays: s.DELETED_RETENTION_DAYS,
      rejectsRetentionDays: s.REJECTS_RETENTION_DAYS,
    },
    fleet: {
      controlSchema: s.PROVET_CONTROL_SCHEMA,
      groupSchema: s.PROVET_GROUP_SCHEMA,
      concurrency: s.WORKER_CONCURRENCY,
      tickMs: s.WORKER_TICK_SECONDS * 1000,
      leaseMs: s.WORKER_LEASE_SECONDS * 1000,
      webhookMaxBodyBytes: s.WEBHOOK_MAX_BODY_BYTES,
      webhookDebounceMs: s.WEBHOOK_DEBOUNCE_SECONDS * 1000,
    },
    provetTuning: {
      pageSize: s.PROVET_PAGE_SIZE,
      requestTimeoutMs: s.PROVET_REQUEST_TIMEOUT_SECONDS * 1000,
      retryDeadlineMs: s.PROVET_RETRY_DEADLINE_SECONDS * 1000,
      maxBodyBytes: s.PROVET_MAX_BODY_MB * 1024 * 1024,
      rateWindowMs: s.PROVET_RATE_WINDOW_SECONDS * 1000,
    },
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
