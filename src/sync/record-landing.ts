// Landing records that did not come as a list page of the poll: those reconciliation reads by id
// range and those a webhook re-fetch reads one by one. They land exactly as a poll page does
// (landPage, the versioned upsert, under the lease), and the rows Provet no longer has are marked
// deleted_at here (never dropped).
import type pg from 'pg';
import { clearDeleted, markDeleted, type RecordTable } from '../db/reconcile.js';
import { withLeasedTransaction } from '../db/run-lock.js';
import { writeClients } from './clients.js';
import { countsFor, findingsFor, noteServerDate, type RunContext } from './context.js';
import { fillMissingFieldValues } from './custom-fields.js';
import { landPage } from './land.js';
import { writePatients } from './patients.js';
import { fillMissingPhoneNumbers } from './phone-numbers.js';
import type { ClientRow, PatientRow, RawJson, Reject } from './rows.js';
import { rawText } from './storable-json.js';

/** Lands records of one kind as a poll page would, and clears deleted_at on every one of them. */
export async function landRecords(
  ctx: RunContext,
  table: RecordTable,
  mapped: { rows: ClientRow[] | PatientRow[]; rejects: Reject[] },
  serverDate: Date | null,
): Promise<number> {
  noteServerDate(ctx, serverDate);
  const counts = countsFor(ctx, table);
  const findings = findingsFor(ctx, table);
  let written: number;
  let rejected: number;
  if (table === 'clients') {
    const rows = mapped.rows as ClientRow[];
    await fillMissingFieldValues(ctx, 'client', rows);
    await fillMissingPhoneNumbers(ctx, rows);
    const landed = await landPage(ctx, {
      stream: table,
      rows,
      rejects: mapped.rejects,
      write: (db, r) => writeClients(db, r, ctx, true),
      describe,
    });
    [written, rejected] = [landed.written, landed.rejects.length];
  } else {
    const rows = mapped.rows as PatientRow[];
    await fillMissingFieldValues(ctx, 'patient', rows);
    const landed = await landPage(ctx, {
      stream: table,
      rows,
      rejects: mapped.rejects,
      write: (db, r) => writePatients(db, r, ctx),
      describe,
    });
    [written, rejected] = [landed.written, landed.rejects.length];
  }
  const ids = mapped.rows.map((r) => r.id);
  findings.undeleted += (await inLease(ctx, (db) => clearDeleted(db, table, ids))).length;
  counts.fetched += mapped.rows.length + mapped.rejects.length;
  counts.written += written;
  counts.rejected += rejected;
  return written;
}

/** Marks rows that Provet no longer has; returns how many were newly marked. */
export async function markGone(ctx: RunContext, table: RecordTable, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const marked = await inLease(ctx, (db) => markDeleted(db, table, ids));
  findingsFor(ctx, table).markedDeleted += marked.length;
  if (marked.length > 0)
    ctx.logger.info(
      { stream: table, ids: marked.slice(0, 20), count: marked.length },
      `${marked.length} ${table} gone from Provet: marked deleted_at`,
    );
  return marked.length;
}

async function inLease<T>(ctx: RunContext, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  return withLeasedTransaction(ctx.pool, ctx.runId, fn);
}

function describe(row: { id: number; rawJson: RawJson }): { recordId: string; payload: string } {
  return { recordId: String(row.id), payload: rawText(row.rawJson) };
}
