// What `provet-sync status` reports: per stream its watermark and lag, the last runs, row
// counts and rejects.
import type pg from 'pg';
import { MIRRORED_TABLES } from './schema.js';

interface StreamStatus {
  stream: string;
  watermark: string | null;
  lagSeconds: number | null;
  updatedAt: string;
}

interface RunSummary {
  id: number;
  kind: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  recordsWritten: number;
  recordsRejected: number;
  requests: number;
  throttled: number;
  error: string | null;
}

export interface MirrorStatus {
  schema: string;
  streams: StreamStatus[];
  lastRun: RunSummary | null;
  lastSuccessfulRun: RunSummary | null;
  rows: Record<string, number>;
  rejects: number;
  pendingPatientRereads: number;
}

export async function readStatus(db: pg.Pool | pg.PoolClient, schema: string): Promise<MirrorStatus> {
  const streams = await db.query<{ stream: string; watermark: string | null; lag: string | null; updated_at: string }>(
    `SELECT stream, to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS watermark,
            extract(epoch FROM now() - watermark)::float8 AS lag,
            to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at
     FROM sync_state ORDER BY stream`,
  );
  const runColumns = `id, kind, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS started_at,
    to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS finished_at,
    records_written, records_rejected, requests, throttled, error`;
  const lastRun = await db.query<RunRow>(`SELECT ${runColumns} FROM sync_runs ORDER BY id DESC LIMIT 1`);
  const lastGood = await db.query<RunRow>(
    `SELECT ${runColumns} FROM sync_runs WHERE status IN ('succeeded', 'partial') ORDER BY id DESC LIMIT 1`,
  );
  const counts = await db.query<{ name: string; n: string }>(
    MIRRORED_TABLES.map((t) => `SELECT '${t}' AS name, count(*) AS n FROM ${t}`).join(' UNION ALL '),
  );
  const rejects = await db.query<{ n: string }>('SELECT count(*) AS n FROM sync_rejects');
  const rereads = await db.query<{ n: string }>('SELECT count(*) AS n FROM patient_rereads');
  return {
    schema,
    streams: streams.rows.map((r) => ({
      stream: r.stream,
      watermark: r.watermark,
      lagSeconds: r.lag === null ? null : Math.round(Number(r.lag)),
      updatedAt: r.updated_at,
    })),
    lastRun: toRun(lastRun.rows[0]),
    lastSuccessfulRun: toRun(lastGood.rows[0]),
    rows: Object.fromEntries(counts.rows.map((r) => [r.name, Number(r.n)])),
    rejects: Number(rejects.rows[0]?.n ?? 0),
    pendingPatientRereads: Number(rereads.rows[0]?.n ?? 0),
  };
}

interface RunRow {
  id: string;
  kind: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  records_written: number;
  records_rejected: number;
  requests: number;
  throttled: number;
  error: string | null;
}

function toRun(row: RunRow | undefined): RunSummary | null {
  if (!row) return null;
  return {
    id: Number(row.id),
    kind: row.kind,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    recordsWritten: row.records_written,
    recordsRejected: row.records_rejected,
    requests: row.requests,
    throttled: row.throttled,
    error: row.error,
  };
}
