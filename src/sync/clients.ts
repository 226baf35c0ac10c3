// Step 1: clients changed since the watermark. Each page also brings the clients' phone numbers
// (nested copy) and custom field values (fields_rel), and queues a patient re-read for every
// client whose archived state changed, in the same transaction as the client rows.
import type pg from 'pg';
import { replaceFieldValues, replacePhoneNumbers } from '../db/mirror/owned-rows.js';
import { upsertClients } from '../db/mirror/record-upsert.js';
import { queuePatientRereads } from '../db/patient-reread-queue.js';
import { formatDateTimeFilter } from '../provet/filters.js';
import type { RunContext } from './context.js';
import { fillMissingFieldValues } from './custom-fields.js';
import { fillMissingPhoneNumbers } from './phone-numbers.js';
import { mapClient, type ClientRow } from './rows.js';
import { readStream } from './stream.js';

export async function syncClients(
  ctx: RunContext,
  since: Date | null,
  options: { queueRereads: boolean },
): Promise<void> {
  await readStream(ctx, {
    stream: 'clients',
    path: 'client/',
    query: since ? { modified__gte: formatDateTimeFilter(since) } : {},
    ...(since ? { modifiedSince: since.toISOString(), sizing: 'probe' as const } : {}),
    mapRecord: mapClient,
    prepare: async (rows) => {
      await fillMissingFieldValues(ctx, 'client', rows);
      await fillMissingPhoneNumbers(ctx, rows);
    },
    write: (db, rows) => writeClients(db, rows, ctx, options.queueRereads),
  });
}

/** The writes for a page of clients: versioned upsert, then phone numbers and custom values of the
 * rows written, and (when asked) patient re-reads queued for archive flips. Also used by side runs. */
export async function writeClients(
  db: pg.PoolClient,
  rows: readonly ClientRow[],
  ctx: Pick<RunContext, 'runId' | 'providerStartedAt'>,
  queueRereads: boolean,
): Promise<number> {
  const { written, ownedKnown } = await upsertClients(
    db,
    rows.map(({ phoneNumbers: _p, fieldValues: _f, ...row }) => row),
    ctx.providerStartedAt?.toISOString() ?? null,
    {
      phoneNumberIds: rows.flatMap((r) => r.phoneNumbers?.map((p) => p.id) ?? []),
      fieldValueIds: rows.flatMap((r) => r.fieldValues?.map((v) => v.id) ?? []),
    },
  );
  const writtenIds = new Set(written.map((w) => w.id));
  const changed = rows.filter((r) => writtenIds.has(r.id));
  await replacePhoneNumbers(
    db,
    written,
    changed.flatMap((r) => r.phoneNumbers ?? []),
    ownedKnown?.phoneNumbers ?? null,
  );
  await replaceFieldValues(
    db,
    'client',
    written,
    changed.flatMap((r) => r.fieldValues ?? []),
    ownedKnown?.fieldValues ?? null,
  );
  if (queueRereads) {
    // Archiving a client archives its patients, and their `modified` may not move: read them again.
    const archiveFlipped = written.filter((w) =>
      w.previousArchived === null ? w.archived : w.previousArchived !== w.archived,
    );
    await queuePatientRereads(
      db,
      archiveFlipped.map((w) => w.id),
      ctx.runId,
    );
  }
  return written.length;
}
