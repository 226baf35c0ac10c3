// The fleet's control tables, as drizzle declarations: the registry of installations that
// `provet-sync installations` edits and the workers read. drizzle-kit generates migrations/control/
// from this file (drizzle.control.config.ts). Like the mirror's tables they are declared without a
// schema: `migrate` applies them with search_path set to PROVET_CONTROL_SCHEMA (default provet_sync).
//
// Credentials are stored by reference only: the path of a file that holds the secret, or the name
// of an environment variable, read by the process that runs the installation. No secret is ever
// written to this table.
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 6, mode: 'string' });

export const installations = pgTable(
  'installations',
  {
    /** A slug: lower-case letters, digits and -, e.g. finland or clinic-group-se. */
    name: text('name').primaryKey(),
    /** The Provet API root, e.g. https://provetcloud.com/1234/api/0.1/ */
    baseUrl: text('base_url').notNull(),
    /** 'oauth': client credentials (client_id + secret); 'token': a legacy static API key. */
    authMethod: text('auth_method').$type<'oauth' | 'token'>().notNull(),
    clientId: text('client_id'),
    /** The OAuth2 token endpoint; null: derived from base_url as for PROVET_TOKEN_URL. */
    tokenUrl: text('token_url'),
    /** Where the client secret or API token is: a file's path, or an environment variable's name. */
    secretFile: text('secret_file'),
    secretEnv: text('secret_env'),
    /** The schema that holds this installation's mirror (default provet_<name>). */
    mirrorSchema: text('mirror_schema').notNull().unique(),
    /** When its sync runs (cron), and its reconciliation (cron, null: never). */
    schedule: text('schedule').notNull(),
    reconcileSchedule: text('reconcile_schedule'),
    lookbackSeconds: integer('lookback_seconds').notNull(),
    /** Where the secret of its webhook URL is (file or environment variable); both null: no webhooks. */
    webhookSecretFile: text('webhook_secret_file'),
    webhookSecretEnv: text('webhook_secret_env'),
    paused: boolean('paused').notNull().default(false),
    createdAt: instant('created_at')
      .notNull()
      .default(sql`now()`),
    updatedAt: instant('updated_at')
      .notNull()
      .default(sql`now()`),
  },
  (t) => [
    check('installations_name_slug', sql`${t.name} ~ '^[a-z][a-z0-9-]{0,39}$'`),
    check('installations_auth_method', sql`${t.authMethod} IN ('oauth', 'token')`),
    check('installations_oauth_client', sql`(${t.authMethod} = 'oauth') = (${t.clientId} IS NOT NULL)`),
    check('installations_one_secret', sql`num_nonnulls(${t.secretFile}, ${t.secretEnv}) = 1`),
    check('installations_one_webhook_secret', sql`num_nonnulls(${t.webhookSecretFile}, ${t.webhookSecretEnv}) <= 1`),
  ],
);

/**
 * When each installation's next sync and reconciliation are due, and how its last runs went: the
 * workers' state, kept apart from the registry that people edit (apply never touches it). A row is
 * made by the first worker tick that sees the installation.
 */
export const installationSchedule = pgTable('installation_schedule', {
  name: text('name').primaryKey(),
  nextRunAt: instant('next_run_at').notNull(),
  nextReconcileAt: instant('next_reconcile_at'),
  /** Failed runs in a row: the installation's own backoff grows with it, the others' does not. */
  failures: integer('failures').notNull().default(0),
  lastError: text('last_error'),
  lastFinishedAt: instant('last_finished_at'),
});

/**
 * Each live worker process and the job queue's worker ids of its slots, with when it was last
 * heard from. A process silent for WORKER_LEASE_SECONDS is taken for dead (SIGKILL, a lost
 * machine): another worker unlocks its jobs in the queue, so they run again elsewhere.
 */
export const workerHeartbeats = pgTable('worker_heartbeats', {
  processId: text('process_id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  slotIds: text('slot_ids').array().notNull(),
  startedAt: instant('started_at')
    .notNull()
    .default(sql`now()`),
  heartbeatAt: instant('heartbeat_at')
    .notNull()
    .default(sql`now()`),
});

/**
 * Webhook hints waiting for their installation's re-fetch job: which record to look at again,
 * nothing else (the hint is never data). One row per record, so a burst for one record costs
 * one fetch; the job takes them out as it re-fetches them.
 */
export const webhookHints = pgTable(
  'webhook_hints',
  {
    installation: text('installation').notNull(),
    kind: text('kind').$type<'client' | 'patient'>().notNull(),
    recordId: bigint('record_id', { mode: 'number' }).notNull(),
    receivedAt: instant('received_at')
      .notNull()
      .default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.installation, t.kind, t.recordId] })],
);
