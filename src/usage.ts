// What `provet-sync --help` prints: the commands, where logs go, where configuration comes from.
export const USAGE = `Usage: provet-sync <command> [options]

Commands:
  sync [--full]      one sync run, then exit (--full reads everything again)
  daemon             scheduled sync runs (SYNC_SCHEDULE) and reconciliation (RECONCILE_SCHEDULE) until
                     SIGTERM, with /healthz, /readyz, /metrics and webhooks on HTTP_PORT
  reconcile          compare the whole mirror with Provet by id ranges; mark hard deletes, repair drift
  purge [--dry-run]  erase personal data of records deleted more than DELETED_RETENTION_DAYS ago and
                     refused payloads older than REJECTS_RETENTION_DAYS (--dry-run: count only)
  grant-reader ROLE  let ROLE read the mirror's tables and views (not its bookkeeping); safe to repeat;
                     --no-identities: only views without names, contact details, free text or raw
                     records (in schema <PROVET_DB_SCHEMA>_no_identities); run it again after an upgrade;
                     fleet mode: --installation NAME (repeatable) and/or --group (the provet_all views;
                     not with --no-identities)
  migrate            create or update the mirror's tables in PROVET_DB_SCHEMA
  status [--json]    watermarks, lag, last run, row counts and rejects
  status NAME|--all  fleet mode: one installation of the registry, or a table of all (--json too)
  simulate [...]     a local Provet API simulator (simulate --help for its options)
  worker             fleet mode: mirror the registry's installations, with any number of workers on one
                     database (WORKER_CONCURRENCY at once each), until SIGTERM
  installations ...  fleet mode: the registry of installations (add, list, remove, pause, resume, apply;
                     installations --help)
  demo [--serve]     simulator + full sync + a few clinic edits + incremental sync, on a local database;
                     --serve keeps the database and the simulator up until Ctrl-C, to look at the data
  demo --fleet       fleet mode: three simulated installations, two workers, one killed, a query across all

Logs: JSON lines, or readable lines when the log stream is a terminal (LOG_FORMAT=json|pretty to
choose). sync, daemon and migrate log on stdout; status, reconcile, purge, grant-reader and demo
on stderr, since their stdout is their answer (status --json | jq . reads JSON only).

Configuration comes from environment variables (see README); without DATABASE_URL an embedded
PostgreSQL is started with its data in .provet-sync/postgres.`;
