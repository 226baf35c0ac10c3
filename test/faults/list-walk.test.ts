// The source moving between two pages of one walk: a hard delete (as Provet's UI makes them), an
// archive flip and a newly modified record, in a full load and in an incremental run, with the
// lists read by id and, where the simulator ignores id__gt or the order, by page number.
// Under page numbers a record leaving page 1 makes the first record of page 2 slide onto page 1,
// already read: these tests fail if that record is ever missed.
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { ProvetClient } from '../../src/provet/client.js';
import type { QuirkSettings } from '../../src/simulator/index.js';
import { runSync } from '../../src/sync/run.js';
import { expectLanded, type Harness } from '../support/harness.js';
import { startRewritingProxy, type RewritingProxy } from '../support/rewriting-proxy.js';
import { expectInvariants, startAuditedHarness, type SourceHistory } from './invariants.js';

const PAGE = 50;

let h: Harness | undefined;
let proxy: RewritingProxy | undefined;
let provet: ProvetClient | undefined;
afterEach(async () => {
  await provet?.close();
  await proxy?.close();
  await h?.close();
  [h, proxy, provet] = [undefined, undefined, undefined];
});

interface World {
  h: Harness;
  history: SourceHistory;
  provet: ProvetClient;
  /** The Provet client's log lines at warn level and above. */
  warnings: string[];
  /** Runs `events` once, just before the walk asks for its second page of `GET client/`. */
  beforeSecondClientPage(events: () => void): void;
  /** Whether those events have run. */
  fired(): boolean;
  sync(full: boolean): ReturnType<Harness['sync']>;
}

/** The simulator behind a proxy that can act between two pages, and a client that logs to memory. */
async function world(mode: Mode): Promise<World> {
  const quirks = mode.quirks;
  const started = await startAuditedHarness({ simulator: { clients: 250, seed: 43, quirks }, pageSize: PAGE });
  h = started.h;
  const harness = started.h;
  let hook: (() => void) | null = null;
  let fired = false;
  let proxyOrigin = '';
  proxy = await startRewritingProxy(harness.sim.baseUrl, {
    beforeForward: (req: IncomingMessage) => {
      const url = new URL(req.url ?? '/', 'http://proxy.invalid');
      if (!hook || !url.pathname.endsWith('/api/0.1/client/')) return;
      // By id the second page is the first to carry id__gt; by page number, page=2.
      if (mode.byPageNumber ? url.searchParams.get('page') === '2' : url.searchParams.has('id__gt')) {
        hook();
        hook = null;
        fired = true;
      }
    },
    // Page-number links name the simulator itself; the fallback walk must come back through here.
    rewrite: (body) => body.replace(/"(next|previous)":"http:\/\/127\.0\.0\.1:\d+\//g, `"$1":"${proxyOrigin}/`),
  });
  proxyOrigin = new URL(proxy.baseUrl).origin;
  const warnings: string[] = [];
  const logger = createLogger('warn', { write: (line: string) => void warnings.push(line) });
  provet = harness.newProvetClient({ baseUrl: proxy.baseUrl, logger });
  const client = provet;
  return {
    h: harness,
    history: started.history,
    provet: client,
    warnings,
    beforeSecondClientPage(events) {
      hook = events;
      fired = false;
    },
    fired: () => fired,
    sync: (full) =>
      runSync(
        {
          pool: harness.db.pool,
          schema: 'provet',
          provet: client,
          logger: harness.logger,
          pageSize: PAGE,
          lookbackSeconds: 120,
        },
        { full },
      ),
  };
}

async function mirrored(h: Harness, id: number): Promise<{ lastname: string; archived: boolean } | undefined> {
  const result = await h.db.pool.query<{ lastname: string; archived: boolean }>(
    'SELECT lastname, archived FROM clients WHERE id = $1',
    [id],
  );
  return result.rows[0];
}

interface Mode {
  quirks: QuirkSettings;
  byPageNumber: boolean;
  /** The one warning the fallback gives. */
  warning: RegExp | null;
  /** Ids of these source records in the order the walk reads them. */
  order: (records: Record<string, unknown>[]) => number[];
}

const byId = (records: Record<string, unknown>[]) => records.map((r) => Number(r.id));
const byCreated = (records: Record<string, unknown>[]) =>
  [...records]
    .sort((a, b) => Date.parse(String(a.created)) - Date.parse(String(b.created)) || Number(a.id) - Number(b.id))
    .map((r) => Number(r.id));

const MODES: [string, Mode][] = [
  ['read by id', { quirks: {}, byPageNumber: false, warning: null, order: byId }],
  [
    'by page number, Provet ignoring id__gt',
    { quirks: { ignoredParameters: ['id__gt'] }, byPageNumber: true, warning: /ignores id__gt/, order: byId },
  ],
  [
    'by page number, Provet ignoring the order and sending newest first',
    {
      quirks: { ignoredParameters: ['ordering'], defaultOrdering: '-id' },
      byPageNumber: true,
      warning: /ignores the ordering/,
      order: (records) => byId(records).reverse(),
    },
  ],
  [
    // By creation time: ids out of order on the first page already (seeded history is not by id).
    'by page number, Provet ignoring the order and sending oldest first',
    {
      quirks: { ignoredParameters: ['ordering'], defaultOrdering: 'created' },
      byPageNumber: true,
      warning: /ignores the ordering/,
      order: byCreated,
    },
  ],
];

/** One warning about client/ when the walk fell back (once per endpoint, however many walks), else none. */
function expectOneFallbackWarning(w: World, mode: Mode): void {
  if (!mode.warning) {
    expect(w.warnings).toEqual([]);
    return;
  }
  const aboutClients = w.warnings.filter((line) => mode.warning!.test(line) && line.includes('GET client/'));
  expect(aboutClients).toHaveLength(1);
}

describe.each(MODES)('a walk %s', (_, mode) => {
  it('loses nothing in a full load when a client is deleted, one archived and one edited between two pages', async () => {
    const w = await world(mode);
    const walked = mode.order(w.h.sim.exportState().clients);
    const [deleted, edited, flipped] = [walked[10]!, walked[20]!, walked[2 * PAGE + 20]!];
    w.beforeSecondClientPage(() => {
      w.history.deleteClient(deleted);
      w.h.sim.updateClient(edited, { lastname: 'Edited mid-walk' });
      w.h.sim.updateClient(flipped, { archived: true });
      w.history.record('client', [edited, flipped]);
    });
    const outcome = await w.sync(true);
    expectLanded(outcome);
    expect(w.fired()).toBe(true);
    // Every record the source still has is in the mirror after this one run: none slid past unread.
    const missing = await w.h.db.pool.query<{ id: number }>(
      'SELECT id FROM unnest($1::bigint[]) AS id EXCEPT SELECT id FROM clients',
      [w.h.sim.exportState().clients.map((c) => Number(c.id))],
    );
    expect(missing.rows).toEqual([]);
    expect((await mirrored(w.h, flipped))?.archived).toBe(true);
    expectOneFallbackWarning(w, mode);
    // The edit below the cursor is the next run's (its modified is after this run's watermark).
    await expectInvariants(w.h, w.history, { reconcile: true });
    expect((await mirrored(w.h, edited))?.lastname).toBe('Edited mid-walk');
  });

  it('leaves nothing stale in an incremental run when a changed client is deleted between two pages', async () => {
    const w = await world(mode);
    expectLanded(await w.sync(false));
    const ids = w.h.sim.exportState().clients.map((c) => Number(c.id));
    // Three pages of changes; the tenth record the walk reads then goes, the twentieth is archived.
    const changed = ids.slice(0, 3 * PAGE);
    for (const id of changed) w.h.sim.updateClient(id, { lastname: `Changed ${id}` });
    w.history.record('client', changed);
    const wanted = new Set(changed);
    const walked = mode.order(w.h.sim.exportState().clients.filter((c) => wanted.has(Number(c.id))));
    const [deleted, flipped] = [walked[10]!, walked[20]!];
    w.beforeSecondClientPage(() => {
      w.history.deleteClient(deleted);
      w.h.sim.updateClient(flipped, { archived: true });
      w.history.record('client', [flipped]);
    });
    const outcome = await w.sync(false);
    expectLanded(outcome);
    expect(w.fired()).toBe(true);
    expect(outcome.kind).toBe('incremental');
    // Right after this run, before any other: every change but the deleted client's has landed.
    const stale = await w.h.db.pool.query<{ id: number }>(
      `SELECT id FROM clients WHERE id = ANY($1::bigint[]) AND id <> $2 AND lastname <> 'Changed ' || id`,
      [changed, deleted],
    );
    expect(stale.rows).toEqual([]);
    expectOneFallbackWarning(w, mode);
    // The archive flip below the cursor is the next run's, as every change made during a walk.
    await expectInvariants(w.h, w.history, { reconcile: true });
  });
});
