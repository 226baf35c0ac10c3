// Custom fields: the definitions (a small list read whole each run), and the values' fallback.
// Values normally arrive inside each record's fields_rel, costing no request of their own; only
// a record that comes without fields_rel has its values read from the nested endpoint.
import { upsertDefinitions } from '../db/mirror/reference-tables.js';
import { countsFor, noteServerDate, type RunContext } from './context.js';
import { landPage } from './land.js';
import { mapPage } from './page-rows.js';
import { mapCustomField, mapFieldValues, type FieldValueRow, type ObjectType } from './rows.js';

export async function syncCustomFieldDefinitions(ctx: RunContext): Promise<void> {
  const { records, serverDate } = await ctx.provet.getAll('custom_fields/', {}, { signal: ctx.signal });
  noteServerDate(ctx, serverDate);
  const { rows, rejects } = mapPage(records, mapCustomField);
  const counts = countsFor(ctx, 'custom_fields');
  const landed = await landPage(ctx, {
    stream: 'custom_fields',
    rows,
    rejects,
    write: (db, batch) => upsertDefinitions(db, 'custom_fields', batch),
    describe: (row) => ({ recordId: String(row.id), payload: row.rawJson }),
  });
  counts.pages += 1;
  counts.fetched += records.length;
  counts.written += landed.written;
  counts.rejected += landed.rejects.length;
}

/** Reads the values of records that came without fields_rel (one request per such record). */
export async function fillMissingFieldValues(
  ctx: RunContext,
  objectType: ObjectType,
  rows: { id: number; fieldValues: FieldValueRow[] | null }[],
): Promise<void> {
  for (const row of rows) {
    if (row.fieldValues !== null) continue;
    const { records } = await ctx.provet.getAll(
      `${objectType}/${row.id}/custom_field_values/`,
      {},
      { signal: ctx.signal },
    );
    row.fieldValues = mapFieldValues(objectType, row.id, records);
  }
}
