// `provet-sync status NAME` and `status --all`: the registry's installations with how their
// mirrors stand, read from each installation's own schema (its watermarks and run table, as
// `status` reads a single installation's) and from the workers' schedule.
import type pg from 'pg';
import { quoteIdent } from '../db/connect.js';
import { listInstallations } from '../db/control/registry.js';
import { readStatus, type MirrorStatus } from '../db/status.js';
import { textTable } from '../text-table.js';

export interface InstallationStatus {
  installation: string;
  schema: string;
  paused: boolean;
  /** null: no run has started yet (the schema's tables may not exist). */
  mirror: MirrorStatus | null;
  nextRunAt: string | null;
  failuresInARow: number;
  lastError: string | null;
}

/** Every installation (or those named), in name order. Unknown names are returned in `unknown`. */
export async function readFleetStatus(
  pool: pg.Pool,
  controlSchema: string,
  names?: readonly string[],
): Promise<{ installations: InstallationStatus[]; unknown: string[] }> {
  const registered = await listInstallations(pool, controlSchema);
  const chosen = names ? registered.filter((i) => names.includes(i.name)) : registered;
  const unknown = names ? names.filter((n) => !registered.some((i) => i.name === n)) : [];
  const schedule = await pool.query<{ name: string; next_run_at: string; failures: number; last_error: string | null }>(
    `SELECT name, to_char(next_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS next_run_at, failures, last_error
     FROM ${quoteIdent(controlSchema)}.installation_schedule`,
  );
  const installations: InstallationStatus[] = [];
  const client = await pool.connect();
  try {
    for (const i of chosen) {
      const tables = await client.query<{ ready: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ready', [
        `${quoteIdent(i.mirrorSchema)}.sync_runs`,
      ]);
      let mirror: MirrorStatus | null = null;
      if (tables.rows[0]?.ready) {
        await client.query(`SET search_path TO ${quoteIdent(i.mirrorSchema)}`);
        mirror = await readStatus(client, i.mirrorSchema);
      }
      const s = schedule.rows.find((r) => r.name === i.name);
      installations.push({
        installation: i.name,
        schema: i.mirrorSchema,
        paused: i.paused,
        mirror,
        nextRunAt: s?.next_run_at ?? null,
        failuresInARow: s?.failures ?? 0,
        lastError: s?.last_error ?? null,
      });
    }
  } finally {
    await client.query('RESET search_path').catch(() => {});
    client.release();
  }
  return { installations, unknown };
}

function lag(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

/** The mirror's lag: its most behind stream of clients and patients. */
function mirrorLag(m: MirrorStatus | null): number | null {
  const lags = (m?.streams ?? [])
    .filter((s) => s.stream === 'clients' || s.stream === 'patients')
    .map((s) => s.lagSeconds ?? Infinity);
  return lags.length === 0 ? null : Math.max(...lags);
}

export function formatFleetStatus(statuses: readonly InstallationStatus[]): string {
  if (statuses.length === 0) return 'no installations registered\n';
  return `${textTable([
    ['INSTALLATION', 'SCHEMA', 'LAST RUN (UTC)', 'STATUS', 'LAG', 'CLIENTS', 'PATIENTS', 'NEXT RUN (UTC)', 'NOTE'],
    ...statuses.map((s) => {
      const run = s.mirror?.lastRun;
      return [
        s.installation,
        s.schema,
        run?.finishedAt ?? run?.startedAt ?? '-',
        run?.status ?? 'never run',
        lag(mirrorLag(s.mirror)),
        String(s.mirror?.rows.clients ?? '-'),
        String(s.mirror?.rows.patients ?? '-'),
        s.paused ? '-' : (s.nextRunAt ?? 'at the next tick'),
        s.paused
          ? 'paused'
          : s.failuresInARow > 0
            ? `${s.failuresInARow} failed in a row: ${(s.lastError ?? '').slice(0, 80)}`
            : '',
      ];
    }),
  ])}\n`;
}
