// The human-readable table printed by `provet-sync status`.
import type { MirrorStatus } from './db/status.js';
import { textTable as table } from './text-table.js';

function lag(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

export function formatStatus(status: MirrorStatus): string {
  const lines: string[] = [`schema: ${status.schema}`, ''];
  lines.push(
    table([
      ['STREAM', 'WATERMARK (UTC)', 'LAG', 'ROWS'],
      ...status.streams.map((s) => [
        s.stream,
        s.watermark ?? '-',
        lag(s.lagSeconds),
        String(status.rows[s.stream] ?? '-'),
      ]),
    ]),
  );
  lines.push(
    '',
    `rows: ${Object.entries(status.rows)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
  const run = status.lastRun;
  lines.push(
    run
      ? `last run: #${run.id} ${run.kind} ${run.status}, started ${run.startedAt}, finished ${run.finishedAt ?? '-'}, ` +
          `${run.recordsWritten} written, ${run.recordsRejected} rejected, ${run.requests} requests, ${run.throttled} throttled` +
          (run.error ? `\n  error: ${run.error}` : '')
      : 'last run: none yet',
  );
  if (run && status.lastSuccessfulRun && status.lastSuccessfulRun.id !== run.id) {
    lines.push(
      `last run that landed: #${status.lastSuccessfulRun.id} finished ${status.lastSuccessfulRun.finishedAt ?? '-'}`,
    );
  }
  lines.push(`rejected records kept: ${status.rejects}`);
  if (status.pendingPatientRereads > 0)
    lines.push(`clients whose patients await a re-read: ${status.pendingPatientRereads}`);
  return `${lines.join('\n')}\n`;
}
