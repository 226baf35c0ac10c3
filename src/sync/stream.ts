// Reading one list stream page by page and landing each page: shared by clients, patients and
// the patient re-reads. The caller says how a record is mapped (as soon as it is parsed, inside
// the Provet client) and how a page of rows is written.
import type pg from 'pg';
import type { PageResult } from '../provet/pages.js';
import type { RecordDecoder } from '../provet/raw-records.js';
import {
  countsFor,
  noteServerDate,
  prefetched,
  Progress,
  throwIfStopped,
  type RunContext,
  type Slots,
} from './context.js';
import { pageLanded } from '../v8-flags.js';
import { landPage } from './land.js';
import { collectPage, compareTimestamps } from './page-rows.js';
import type { Mapped, RawJson, Reject } from './rows.js';
import { rawText } from './storable-json.js';

export interface StreamSpec<Row extends { id: number; modified: string; rawJson: RawJson }> {
  stream: string;
  /** For progress lines, when it is not just the stream's name. */
  label?: string;
  path: string;
  query: Record<string, string | number | boolean>;
  /** Maps one record, with its bytes as sent when the page could tell them apart; called as each is parsed. */
  mapRecord: RecordDecoder<Mapped<Row>>;
  /** Network work a page needs before its transaction (fallback fetches); none inside it. */
  prepare?: (rows: Row[]) => Promise<void>;
  write: (db: pg.PoolClient, rows: readonly Row[]) => Promise<number>;
  /** When set, rows modified before this were not asked for: Provet ignored the filter. */
  modifiedSince?: string;
  /** Checks each page; throws to stop the stream. */
  checkPage?: (rows: readonly Row[]) => void;
  /**
   * How to size pages. Provet charges a request by the page size it asks for, not by what comes
   * back, so a list of 120 changes read at page_size=1000 costs 20 units where 3 would do.
   * 'probe': ask for one record first (1 unit) to learn `count`, then size the pages to fit it;
   * a number: the expected count, known beforehand; unset: the configured page size.
   */
  sizing?: 'probe' | number;
}

const UNIT_PAGE = 50;

/** Pages one stream writes at once (each holds a pooled connection while it lands). */
const PAGES_IN_FLIGHT = 2;

/** The page size that reads `expected` records in as few units as possible, within `max`. */
function fittedPageSize(expected: number, max: number): number {
  const pages = Math.max(1, Math.ceil(expected / max));
  const perPage = Math.ceil(expected / pages / UNIT_PAGE) * UNIT_PAGE;
  return Math.min(max, Math.max(UNIT_PAGE, perPage));
}

export async function readStream<Row extends { id: number; modified: string; rawJson: RawJson }>(
  ctx: RunContext,
  spec: StreamSpec<Row>,
): Promise<void> {
  const counts = countsFor(ctx, spec.stream);
  const logger = ctx.logger.child({ stream: spec.stream });
  const progress = new Progress(logger, spec.label ?? spec.stream);
  let warnedIgnoredFilter = false;
  let pageSize = ctx.pageSize;
  if (spec.sizing === 'probe') {
    const probe = await ctx.provet.getPage(spec.path, { ...spec.query, page_size: 1 }, { signal: ctx.signal });
    noteServerDate(ctx, probe.serverDate);
    if (probe.count === 0) {
      progress.done();
      return;
    }
    pageSize = fittedPageSize(probe.count, ctx.pageSize);
  } else if (typeof spec.sizing === 'number') {
    pageSize = fittedPageSize(spec.sizing, ctx.pageSize);
  }
  // Read by id, so a record leaving the list meanwhile cannot make another one slide past unread
  // (ProvetClient.walk; list-walk.ts says how, and what happens where Provet ignores id__gt).
  const held = new HeldPages(ctx.pageSlots);
  const pages = held.each(
    collectedPages(
      ctx.provet.walk(spec.path, spec.query, { pageSize, signal: ctx.signal, decodeRecord: spec.mapRecord }),
    ),
  );
  // Pages are fetched and mapped while earlier ones are written, and up to PAGES_IN_FLIGHT pages
  // are written at once, each in its own transaction on its own connection: while one waits for
  // its next statement, the other keeps the database busy. Pages may commit out of order; each
  // lands whole (between two versions of one record the versioned upsert keeps the newer, whichever
  // commits first), and the stream only ends (and its watermark can only move) once every page
  // has landed.
  const landing: Promise<void>[] = [];
  // The first page that failed, as soon as it fails: no more pages are fetched or started after it.
  let failed: { error: unknown } | null = null;
  const throwIfFailed = () => {
    if (failed) throw failed.error;
  };
  try {
    for await (const { page, release } of prefetched(pages)) {
      try {
        throwIfFailed();
        noteServerDate(ctx, page.serverDate);
        const { rows, rejects } = page;
        spec.checkPage?.(rows);
        if (
          spec.modifiedSince &&
          !warnedIgnoredFilter &&
          rows.some((r) => compareTimestamps(r.modified, spec.modifiedSince!) < 0)
        ) {
          warnedIgnoredFilter = true;
          logger.warn(
            { endpoint: spec.path, since: spec.modifiedSince, count: page.count },
            'Provet returned records older than modified__gte: the filter looks ignored, so this run reads the whole list',
          );
        }
        await spec.prepare?.(rows);
        if (landing.length >= PAGES_IN_FLIGHT) await landing.shift();
        throwIfFailed();
        throwIfStopped(ctx);
        const landed = landPage(ctx, {
          stream: spec.stream,
          rows,
          rejects,
          write: spec.write,
          describe: (row) => ({ recordId: String(row.id), payload: rawText(row.rawJson) }),
        }).then((result) => {
          counts.pages += 1;
          counts.fetched += page.fetched;
          counts.written += result.written;
          counts.rejected += result.rejects.length;
          if (result.rejects.length > 0) {
            logger.warn(
              {
                page: page.page,
                rejected: result.rejects.map((r) => ({ id: r.recordId, reason: r.reason })).slice(0, 10),
              },
              `${result.rejects.length} record(s) rejected on page ${page.page}; kept in sync_rejects`,
            );
          }
          progress.page(page, { written: result.written, rejected: result.rejects.length });
          pageLanded();
        });
        void landed.then(release, release);
        // Observed when its turn comes or below; noted here so the loop stops at once.
        landed.catch((error: unknown) => (failed ??= { error }));
        landing.push(landed);
      } catch (err) {
        // This page's slot, and the one the next page's fetch may be waiting for, go back at
        // once: the loop's end waits for that fetch, and the other stream may hold the last slot.
        release();
        held.close();
        throw err;
      }
    }
    while (landing.length > 0) await landing.shift();
    throwIfStopped(ctx);
  } finally {
    // Whatever ended the loop, the pages being written land or roll back whole before we return,
    // and the pages this stream held (one fetched ahead, say) are let go for the other streams.
    await Promise.allSettled(landing);
    held.close();
  }
  progress.done();
}

/**
 * Pages of a stream from the moment their fetch starts until they have landed, counted against
 * the run's page slots (see Slots): a slot is taken before each page is asked for and given back
 * by `release` once it has landed, or by close() when the stream ends, whatever ended it.
 */
class HeldPages {
  private readonly held = new Set<() => void>();
  private readonly closed = new AbortController();
  constructor(private readonly slots: Slots | undefined) {}

  async *each<Page>(pages: AsyncGenerator<Page>): AsyncGenerator<{ page: Page; release: () => void }> {
    try {
      for (;;) {
        const release = this.hold(await this.slots?.acquire(this.closed.signal));
        const next = await pages.next().catch((err: unknown) => {
          release();
          throw err;
        });
        if (next.done) {
          release();
          return;
        }
        yield { page: next.value, release };
      }
    } finally {
      await pages.return(undefined).catch(() => {});
    }
  }

  private hold(release: (() => void) | undefined): () => void {
    if (!release) return () => {};
    const once = () => {
      this.held.delete(once);
      release();
    };
    this.held.add(once);
    return once;
  }

  /** The stream has stopped: its slots go back, and a fetch waiting for one gives up. */
  close(): void {
    this.closed.abort();
    for (const release of [...this.held]) release();
  }
}

/** A page once mapped: its rows, and of the records only how many there were. */
type CollectedPage<Row> = Omit<PageResult, 'records'> & { fetched: number; rows: Row[]; rejects: Reject[] };

/** Each page's mapped records as rows and rejects (a page holding one id twice keeps the newest). */
async function* collectedPages<Row extends { id: number; modified: string }>(
  pages: AsyncGenerator<PageResult<Mapped<Row>>>,
): AsyncGenerator<CollectedPage<Row>> {
  for await (const { records, ...page } of pages) {
    yield { ...page, fetched: records.length, ...collectPage(records) };
  }
}
