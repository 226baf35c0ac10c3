// The species and breed codelists: small lists read whole each run, so analysts can turn
// patients' species_code and breed_code into names.
import { upsertDefinitions } from '../db/mirror/reference-tables.js';
import { countsFor, noteServerDate, type RunContext } from './context.js';
import { landPage } from './land.js';
import { mapPage } from './page-rows.js';
import { mapCodelistEntry } from './rows.js';

const CODELISTS = [
  { stream: 'species', path: 'codelist/species/', table: 'species' },
  { stream: 'breeds', path: 'codelist/breeds/', table: 'breeds' },
] as const;

export async function syncCodelists(ctx: RunContext): Promise<void> {
  for (const list of CODELISTS) {
    const { records, serverDate } = await ctx.provet.getAll(list.path, {}, { signal: ctx.signal });
    noteServerDate(ctx, serverDate);
    const { rows, rejects } = mapPage(records, mapCodelistEntry);
    const landed = await landPage(ctx, {
      stream: list.stream,
      rows,
      rejects,
      write: (db, batch) => upsertDefinitions(db, list.table, batch),
      describe: (row) => ({ recordId: String(row.id), payload: row.rawJson }),
    });
    const counts = countsFor(ctx, list.stream);
    counts.pages += 1;
    counts.fetched += records.length;
    counts.written += landed.written;
    counts.rejected += landed.rejects.length;
  }
}
