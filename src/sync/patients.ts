// Step 2: every patient changed since the watermark, in one paged query (which also catches
// patients whose client did not change), with their custom field values from fields_rel.
import type pg from 'pg';
import { replaceFieldValues } from '../db/mirror/owned-rows.js';
import { upsertPatients } from '../db/mirror/record-upsert.js';
import { formatDateTimeFilter } from '../provet/filters.js';
import type { RunContext } from './context.js';
import { fillMissingFieldValues } from './custom-fields.js';
import { mapPatient, type PatientRow } from './rows.js';
import { readStream } from './stream.js';

export async function syncPatients(ctx: RunContext, since: Date | null): Promise<void> {
  await readStream(ctx, {
    stream: 'patients',
    path: 'patient/',
    query: since ? { modified__gte: formatDateTimeFilter(since) } : {},
    ...(since ? { modifiedSince: since.toISOString(), sizing: 'probe' as const } : {}),
    mapRecord: mapPatient,
    prepare: (rows) => fillMissingFieldValues(ctx, 'patient', rows),
    write: (db, rows) => writePatients(db, rows, ctx),
  });
}

export async function writePatients(
  db: pg.PoolClient,
  rows: readonly PatientRow[],
  ctx: Pick<RunContext, 'providerStartedAt'>,
): Promise<number> {
  const { written, ownedKnown } = await upsertPatients(
    db,
    rows.map(({ fieldValues: _f, ...row }) => row),
    ctx.providerStartedAt?.toISOString() ?? null,
    { phoneNumberIds: [], fieldValueIds: rows.flatMap((r) => r.fieldValues?.map((v) => v.id) ?? []) },
  );
  const writtenIds = new Set(written.map((w) => w.id));
  const changed = rows.filter((r) => writtenIds.has(r.id));
  await replaceFieldValues(
    db,
    'patient',
    written,
    changed.flatMap((r) => r.fieldValues ?? []),
    ownedKnown?.fieldValues ?? null,
  );
  return written.length;
}
