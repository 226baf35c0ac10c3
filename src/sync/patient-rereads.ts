// Step 3: archived records are soft deletes. The upsert keeps every row and makes `archived`
// follow Provet both ways; this module covers the case polling by `modified` cannot see:
// when a client is archived or unarchived, Provet flips its patients too, possibly without
// moving their `modified`. Such clients were queued (with the client page that showed the
// flip); here their full patient lists are read again and the queue entry is cleared.
import { clearPatientRereads, pendingPatientRereads } from '../db/patient-reread-queue.js';
import { withLeasedTransaction } from '../db/run-lock.js';
import { FilterIgnoredError } from '../provet/errors.js';
import { formatInFilter } from '../provet/filters.js';
import type { RunContext } from './context.js';
import { batchedOrPerClient } from './per-client-fallback.js';
import { writePatients } from './patients.js';
import { mapPatient } from './rows.js';
import { readStream } from './stream.js';

/** Clients per request: keeps the URL short (a few KB) while costing one request for many clients. */
const CLIENTS_PER_REQUEST = 200;

export async function rereadPatientsOfFlippedClients(ctx: RunContext): Promise<void> {
  const pending = await pendingPatientRereads(ctx.pool);
  if (pending.length === 0) return;
  ctx.logger.info({ clients: pending.length }, 'reading again the patients of clients archived or unarchived');
  for (let i = 0; i < pending.length; i += CLIENTS_PER_REQUEST) {
    const batch = pending.slice(i, i + CLIENTS_PER_REQUEST);
    await batchedOrPerClient(
      ctx,
      'patient/',
      'the patients of each archived or unarchived client',
      () => rereadBatch(ctx, batch, { client__in: formatInFilter(batch) }),
      async () => {
        for (const clientId of batch) await rereadBatch(ctx, [clientId], { client__is: clientId });
      },
    );
    await withLeasedTransaction(ctx.pool, ctx.runId, (db) => clearPatientRereads(db, batch));
  }
}

async function rereadBatch(
  ctx: RunContext,
  clientIds: number[],
  query: Record<string, string | number>,
): Promise<void> {
  const wanted = new Set(clientIds);
  // Pages sized to the patients the mirror knows for these clients (plus room for new ones).
  const known = await ctx.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM patients WHERE client_id = ANY($1::bigint[])',
    [clientIds],
  );
  const expected = Math.ceil((known.rows[0]?.n ?? 0) * 1.1) + 1;
  await readStream(ctx, {
    sizing: expected,
    stream: 'patients',
    label: 'patients of archived or unarchived clients',
    path: 'patient/',
    query,
    mapRecord: mapPatient,
    // Patients of other clients mean Provet ignored the filter and is sending the whole list.
    checkPage: (rows) => {
      const stray = rows.find((r) => r.clientId === null || !wanted.has(r.clientId));
      if (!stray) return;
      const [filter] = Object.keys(query);
      throw new FilterIgnoredError(
        'patient/',
        filter!,
        `patient/ answered ${filter}=${String(Object.values(query)[0])} with patient ${stray.id} of another client: Provet ignores ${filter} there` +
          (filter === 'client__is'
            ? ' as well as client__in, so the patients of archived or unarchived clients cannot be read again without reading every patient; the run stops'
            : ''),
      );
    },
    write: (db, rows) => writePatients(db, rows, ctx),
  });
}
