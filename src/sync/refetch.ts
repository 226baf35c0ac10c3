// Targeted re-fetch of single records, for webhook hints: `GET client/<id>/` or `patient/<id>/`
// (the per-record endpoints, whose budget the API client keeps), landed like a poll page, as a
// run of its own ('webhook'). A 404 means Provet no longer has the record: it gets deleted_at.
// The hint only says which record to look at; what lands is what Provet answers.
import type { RecordTable } from '../db/reconcile.js';
import { isProvetApiError } from '../provet/errors.js';
import { throwIfStopped, type RunContext } from './context.js';
import { landRecords, markGone } from './record-landing.js';
import { mapPage } from './page-rows.js';
import { mapClient, mapPatient, type ClientRow, type PatientRow, type Reject } from './rows.js';
import { withRun, type RunDependencies, type RunOutcome } from './run-lifecycle.js';

export interface RecordIds {
  clients: readonly number[];
  patients: readonly number[];
}

export function refetchRecords(deps: RunDependencies, ids: RecordIds): Promise<RunOutcome> {
  return withRun(
    deps,
    () => Promise.resolve({ kind: 'webhook', plan: ids }),
    async (ctx) => {
      await refetchKind(ctx, 'clients', 'client', ids.clients);
      await refetchKind(ctx, 'patients', 'patient', ids.patients);
    },
  );
}

async function refetchKind(
  ctx: RunContext,
  table: RecordTable,
  path: 'client' | 'patient',
  ids: readonly number[],
): Promise<void> {
  if (ids.length === 0) return;
  const records: unknown[] = [];
  const gone: number[] = [];
  let serverDate: Date | null = null;
  for (const id of ids) {
    throwIfStopped(ctx);
    try {
      const res = await ctx.provet.getJson(`${path}/${id}/`, ctx.signal ? { signal: ctx.signal } : {});
      serverDate ??= res.serverDate;
      records.push(res.body);
    } catch (err) {
      if (isProvetApiError(err, 'PROVET_HTTP') && err.status === 404) gone.push(id);
      else throw err;
    }
  }
  const mapped =
    table === 'clients'
      ? mapPage(records, mapClient)
      : (mapPage(records, mapPatient) as { rows: ClientRow[] | PatientRow[]; rejects: Reject[] });
  // A record whose id is not the one asked for is not trusted to stand for it.
  const asked = new Set(ids);
  const strays = mapped.rows.filter((r) => !asked.has(r.id));
  if (strays.length > 0)
    throw new Error(
      `${path}/<id>/ answered with another record's id (${strays[0]!.id}); nothing from this batch lands`,
    );
  if (records.length > 0) await landRecords(ctx, table, mapped, serverDate);
  await markGone(ctx, table, gone);
}
