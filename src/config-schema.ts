// Every setting the environment may hold: its name, whether it is a secret, and how its text is
// parsed (with the parsers of config-parsers.ts), with its default and what it is for.
import { z } from 'zod';
import { parseFailpointSpec } from './failpoints.js';
import { cron, httpUrl, integer, matching, oneOf, positiveSeconds, seconds, setting } from './config-parsers.js';

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
  'PROVET_CONTROL_SCHEMA',
  'PROVET_GROUP_SCHEMA',
  'WORKER_CONCURRENCY',
  'WORKER_TICK_SECONDS',
  'WORKER_LEASE_SECONDS',
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
  'DELETED_RETENTION_DAYS',
  'REJECTS_RETENTION_DAYS',
] as const;
export type SettingName = (typeof SETTING_NAMES)[number];

export const schema = z.object({
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
  // Fleet mode: the schema of the registry of installations (provet-sync installations, worker).
  PROVET_CONTROL_SCHEMA: matching(
    /^[a-z_][a-z0-9_]{0,62}$/,
    'a lower-case SQL identifier: letters a-z, digits and _, not starting with a digit, at most 63 characters',
  ).default('provet_sync'),
  // Fleet mode: the schema of the views across the registry's installations. One per registry:
  // two registries in one database need two names.
  PROVET_GROUP_SCHEMA: matching(
    /^[a-z_][a-z0-9_]{0,62}$/,
    'a lower-case SQL identifier: letters a-z, digits and _, not starting with a digit, at most 63 characters',
  ).default('provet_all'),
  // Fleet workers: installations run at once per worker process (each run is mostly waiting on
  // Provet and PostgreSQL; 4 suits a 2-core machine).
  WORKER_CONCURRENCY: integer(1, 64, 'installations').default(4),
  // How often each worker looks for installations whose schedule is due (and for dead workers).
  WORKER_TICK_SECONDS: positiveSeconds(300).default(15),
  // A worker that has not been heard from for this long is taken for dead: its runs go to another.
  WORKER_LEASE_SECONDS: positiveSeconds(3600).default(45),
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
  // Days a client or patient deleted in Provet keeps its personal data in the mirror before the
  // purge erases it (the row stays as a tombstone); 0: at the next purge. The daemon purges after
  // each reconciliation (daily at 03:17 when reconciliation is off); `provet-sync purge` at will.
  DELETED_RETENTION_DAYS: integer(0, 3650, 'days').default(30),
  // Days a refused record's row (its payload, which is personal data) stays in sync_rejects.
  REJECTS_RETENTION_DAYS: integer(0, 3650, 'days').default(30),
});

export type Settings = z.infer<typeof schema>;
