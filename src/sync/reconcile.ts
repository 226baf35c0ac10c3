// Reconciliation: what polling by `modified` cannot see. A hard delete in Provet leaves no record
// to poll, and a record can change without moving `modified`; both leave the mirror out of step.
//
// Every filter it depends on is checked first (Provet answers an unknown one with the whole list).
// A pass walks the whole id space of clients and of patients cheaply: for an id range it asks
// Provet for the number of records (`id__gte`/`id__lt`, page_size=1: one budget unit) and for how
// many of them are newer than the mirror's latest `modified` in that range (one more unit), and
// compares with the mirror. Equal ranges cost nothing more; a differing range is halved until it
// is small, then read whole: its records land through the usual versioned upsert, and mirror rows
// whose ids Provet no longer returns get deleted_at (never dropped).
//
// What it cannot see: a range where one record vanished and another appeared with no change in
// count or `modified`; content changed without `modified` in a range that otherwise agrees
// (`sync --full` compares every record's content, at the cost of a full read).
import { mirrorIdCeiling, mirrorLiveIds, mirrorRangeSummary, type RecordTable } from '../db/reconcile.js';
import { FilterIgnoredError, ProvetApiError } from '../provet/errors.js';
import { countsFor, findingsFor, noteServerDate, throwIfStopped, type RunContext } from './context.js';
import { landRecords, markGone } from './record-landing.js';
import { mapPage } from './page-rows.js';
import { mapClient, mapPatient, type Mapped, type RawJson } from './rows.js';
import { withRun, type RunDependencies, type RunOutcome } from './run-lifecycle.js';

/** A differing range with at most this many records upstream is read instead of halved (a few budget units). */
const READ_THRESHOLD = 200;
/** Provet's default page size: a request for up to this many records costs one budget unit. */
const UNIT_PAGE = 50;

interface Kind {
  table: RecordTable;
  path: string;
  map: (input: unknown) => Mapped<{ id: number; modified: string; rawJson: RawJson }>;
}

const KINDS: Kind[] = [
  { table: 'clients', path: 'client/', map: mapClient },
  { table: 'patients', path: 'patient/', map: mapPatient },
];

export function runReconcile(deps: RunDependencies): Promise<RunOutcome> {
  return withRun(
    deps,
    () => Promise.resolve({ kind: 'reconcile', plan: KINDS }),
    async (ctx, kinds) => {
      for (const kind of kinds) await reconcileKind(ctx, kind);
    },
  );
}

/** Above any id Provet hands out (its ids are 32-bit): a count from here on must be 0. */
const ID_CEILING = 2_147_483_647;
/** Far enough ahead of Provet's clock that no record can be modified after it. */
const FAR_FUTURE = '2999-01-01T00:00:00.000000+00:00';

async function reconcileKind(ctx: RunContext, kind: Kind): Promise<void> {
  countsFor(ctx, kind.table);
  Object.assign(findingsFor(ctx, kind.table), { rangesChecked: 0, rangesDiffering: 0, rangesRead: 0 });
  // Provet answers an unknown filter with the whole list, and a reconcile that believed such
  // answers would mark nothing right and read everything: each filter it relies on is checked
  // against a range that must be empty. Without the id filters there are no ranges to compare,
  // and reading the whole list in their place is what `sync --full` is for: reconciliation stops.
  for (const [filter, value] of [
    ['id__lt', 1],
    ['id__gte', ID_CEILING],
  ] as const) {
    const count = await upstreamCount(ctx, kind, { [filter]: value });
    if (count !== 0) {
      throw new FilterIgnoredError(
        kind.path,
        filter,
        `${kind.path}: Provet ignores ${filter} (${filter}=${value} counted ${count}, not 0), so id ranges cannot be compared; reconciliation stopped (a \`sync --full\` re-reads every record, but cannot see hard deletes)`,
      );
    }
  }
  // Without modified__gt a range is compared by its count alone: rows changed without a new count
  // go unseen, but nothing is read needlessly (with the filter ignored, every range would differ).
  const compareModified =
    !ctx.provet.ignoresFilter(kind.path, 'modified__gt') &&
    (await upstreamCount(ctx, kind, { modified__gt: FAR_FUTURE })) === 0;
  if (!compareModified && ctx.provet.noteIgnoredFilter(kind.path, 'modified__gt')) {
    ctx.logger.warn(
      { stream: kind.table },
      `${kind.path} ignores modified__gt: reconciliation compares each id range by its count only, so content changed without a new count is left to \`sync --full\``,
    );
  }
  const ceiling = await mirrorIdCeiling(ctx.pool, kind.table);
  await checkRange(ctx, kind, 0, ceiling, compareModified);
  // Ids above anything the mirror has seen: records the next poll would bring too; read them now.
  if ((await upstreamCount(ctx, kind, { id__gte: ceiling })) > 0)
    await readRange(ctx, kind, ceiling, null, ctx.pageSize);
  const f = findingsFor(ctx, kind.table);
  ctx.logger.info(
    { stream: kind.table, ...f },
    `reconcile ${kind.table}: ${f.rangesChecked} ranges checked, ${f.rangesRead} read, ${f.markedDeleted} marked deleted`,
  );
}

async function checkRange(
  ctx: RunContext,
  kind: Kind,
  from: number,
  to: number,
  compareModified: boolean,
): Promise<void> {
  throwIfStopped(ctx);
  if (from >= to) return;
  const findings = findingsFor(ctx, kind.table);
  findings.rangesChecked! += 1;
  const upstream = await upstreamCount(ctx, kind, { id__gte: from, id__lt: to });
  if (upstream > to - from)
    throw new FilterIgnoredError(
      kind.path,
      'id__gte',
      `${kind.path}: ${upstream} records counted for ${to - from} ids; the id range filter was ignored`,
    );
  const mirror = await mirrorRangeSummary(ctx.pool, kind.table, from, to);
  let differs = upstream !== mirror.count;
  if (!differs && compareModified && upstream > 0 && mirror.maxModified) {
    differs = (await upstreamCount(ctx, kind, { id__gte: from, id__lt: to, modified__gt: mirror.maxModified })) > 0;
  }
  if (!differs) return;
  findings.rangesDiffering! += 1;
  if (upstream <= READ_THRESHOLD || to - from <= 1) {
    await readRange(ctx, kind, from, to, upstream);
    return;
  }
  const middle = Math.floor((from + to) / 2);
  await checkRange(ctx, kind, from, middle, compareModified);
  await checkRange(ctx, kind, middle, to, compareModified);
}

/** Records in [from, to) (to null: no upper bound) land; mirror rows Provet did not return are marked deleted. */
async function readRange(
  ctx: RunContext,
  kind: Kind,
  from: number,
  to: number | null,
  expected: number,
): Promise<void> {
  const findings = findingsFor(ctx, kind.table);
  findings.rangesRead! += 1;
  // The budget charges by page_size asked for, not by records returned: ask for no more than needed.
  const pageSize = Math.min(ctx.pageSize, Math.max(UNIT_PAGE, Math.ceil(expected / UNIT_PAGE) * UNIT_PAGE));
  const query: Record<string, number> = to === null ? { id__gte: from } : { id__gte: from, id__lt: to };
  const seen = new Set<number>();
  // By id (ProvetClient.walk): a record deleted meanwhile cannot make another slide past unread and
  // then be taken for deleted too.
  for await (const page of ctx.provet.walk(kind.path, query, { pageSize, signal: ctx.signal })) {
    const mapped = mapPage(page.records, kind.map);
    const stray = mapped.rows.find((row) => row.id < from || (to !== null && row.id >= to));
    if (stray)
      throw new FilterIgnoredError(
        kind.path,
        'id__gte',
        `${kind.path}: asked for ids in [${from}, ${to ?? '∞'}), got ${stray.id}: Provet ignored the id range; reconciliation stopped before marking anything`,
      );
    for (const row of mapped.rows) seen.add(row.id);
    for (const reject of mapped.rejects)
      if (reject.recordId !== null && /^\d+$/.test(reject.recordId)) seen.add(Number(reject.recordId));
    countsFor(ctx, kind.table).pages += 1;
    await landRecords(ctx, kind.table, mapped as Parameters<typeof landRecords>[2], page.serverDate);
    throwIfStopped(ctx);
  }
  const live = await mirrorLiveIds(ctx.pool, kind.table, from, to ?? Number.MAX_SAFE_INTEGER);
  await markGone(
    ctx,
    kind.table,
    live.filter((id) => !seen.has(id)),
  );
}

async function upstreamCount(ctx: RunContext, kind: Kind, filters: Record<string, string | number>): Promise<number> {
  const page = await ctx.provet.getPage(
    kind.path,
    { ...filters, page_size: 1 },
    ctx.signal ? { signal: ctx.signal } : {},
  );
  noteServerDate(ctx, page.serverDate);
  if (!Number.isSafeInteger(page.count))
    throw new ProvetApiError('PROVET_BAD_PAGE', `${kind.path}: count is not an integer`);
  return page.count;
}
