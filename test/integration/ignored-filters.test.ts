// Provet answers a filter it does not know with the whole list. Every filter a run depends on is
// checked on what comes back, and an ignored one switches to a fallback whose cost is bounded by
// what was asked for, with one warning: phonenumber/ and patient/ `client__in`, and reconcile's
// `modified__gt`, `id__gte` and `id__lt`. The simulator drops the named parameter unread.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { ProvetClient } from '../../src/provet/client.js';
import type { QuirkSettings } from '../../src/simulator/index.js';
import { runReconcile } from '../../src/sync/reconcile.js';
import { runSync } from '../../src/sync/run.js';
import { expectLanded, startHarness, type Harness } from '../support/harness.js';
import { startRewritingProxy, type RewritingProxy } from '../support/rewriting-proxy.js';

let h: Harness | undefined;
let proxy: RewritingProxy | undefined;
let provet: ProvetClient | undefined;
afterEach(async () => {
  await provet?.close();
  await proxy?.close();
  await h?.close();
  [h, proxy, provet] = [undefined, undefined, undefined];
});

/** A harness whose Provet client logs its warnings to memory, through an optional body rewrite. */
async function start(clients: number, quirks: QuirkSettings, rewrite?: (body: string) => string) {
  h = await startHarness({ simulator: { clients, seed: 23, quirks } });
  const harness = h;
  if (rewrite) proxy = await startRewritingProxy(harness.sim.baseUrl, { rewrite });
  const warnings: string[] = [];
  const logger = createLogger('warn', { write: (line: string) => void warnings.push(line) });
  provet = harness.newProvetClient({ logger, ...(proxy ? { baseUrl: proxy.baseUrl } : {}) });
  const client = provet;
  return {
    h: harness,
    warnings,
    sync: (full = false) =>
      runSync(
        { pool: harness.db.pool, schema: 'provet', provet: client, logger, pageSize: 100, lookbackSeconds: 120 },
        { full },
      ),
    reconcile: () => runReconcile({ pool: harness.db.pool, schema: 'provet', provet: client, logger, pageSize: 100 }),
  };
}

/** Client records without their nested `phone_numbers`, so the run must read phonenumber/. */
function withoutNestedPhoneNumbers(body: string): string {
  const page = JSON.parse(body) as { results?: Record<string, unknown>[] };
  if (!Array.isArray(page.results)) return body;
  for (const record of page.results)
    if (typeof record.url === 'string' && record.url.includes('/client/')) delete record.phone_numbers;
  return JSON.stringify(page);
}

describe('phonenumber/ ignoring client__in', () => {
  it('reads each client with client__is: requests bounded by the clients, not by the phone list', async () => {
    const w = await start(300, { ignoredParameters: ['client__in'] }, withoutNestedPhoneNumbers);
    w.h.sim.resetRequestCounts();
    expectLanded(await w.sync());
    const requests = w.h.sim.requestCounts()['GET phonenumber/'] ?? 0;
    const state = w.h.sim.exportState();
    // One batch request finds the filter ignored; then one request (one budget unit) per client.
    expect(requests).toBe(1 + state.clients.length);
    const mirrored = await w.h.db.pool.query<{ id: number; client_id: number; phone_number: string }>(
      'SELECT id, client_id, phone_number FROM phone_numbers ORDER BY id',
    );
    const expected = state.phoneNumbers.map((n) => ({
      id: Number(n.id),
      client_id: Number(/\/client\/(\d+)\//.exec(String(n.client))![1]),
      phone_number: n.phone_number,
    }));
    expect(mirrored.rows.map((r) => ({ ...r, id: Number(r.id), client_id: Number(r.client_id) }))).toEqual(expected);
    expect(w.warnings.filter((line) => line.includes('phonenumber/ ignores client__in'))).toHaveLength(1);
  });

  it('stops the run with a clear error when client__is is ignored too, and keeps the clients watermark', async () => {
    const w = await start(120, { ignoredParameters: ['client__in', 'client__is'] }, withoutNestedPhoneNumbers);
    const outcome = await w.sync();
    expect(outcome.status).toBe('failed');
    if (outcome.status !== 'failed') return;
    expect(outcome.error?.message).toMatch(/ignores client__is there as well as client__in/);
    // The phone numbers are the client stream's: its watermark is not stored. The patient stream,
    // read side by side, landed and stored its own.
    const watermarks = await w.h.db.pool.query(`SELECT stream FROM sync_state WHERE stream IN ('clients', 'patients')`);
    expect(watermarks.rows).toEqual([{ stream: 'patients' }]);
  });

  it('reads phone numbers in batches where client__in is honoured', async () => {
    const w = await start(300, {}, withoutNestedPhoneNumbers);
    w.h.sim.resetRequestCounts();
    expectLanded(await w.sync());
    // 300 clients on three pages of 100, a batch request for each page.
    expect(w.h.sim.requestCounts()['GET phonenumber/']).toBe(3);
    expect(w.warnings).toEqual([]);
  });
});

describe('patient/ ignoring client__in', () => {
  it('reads the patients of archived clients again one client at a time, with one warning', async () => {
    const w = await start(150, { ignoredParameters: ['client__in'] });
    expectLanded(await w.sync());
    const state = w.h.sim.exportState();
    const owners = state.clients
      .filter((c) => c.archived === false && state.patients.some((p) => p.client === c.url && p.archived === false))
      .slice(0, 3);
    for (const owner of owners) w.h.sim.updateClient(Number(owner.id), { archived: true });
    w.h.sim.resetRequestCounts();
    expectLanded(await w.sync());
    const archived = await w.h.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM patients WHERE client_id = ANY($1::bigint[]) AND NOT archived',
      [owners.map((o) => Number(o.id))],
    );
    expect(archived.rows[0]!.n).toBe(0);
    // The patients changed since the watermark (probe + a page), the batch that found client__in
    // ignored, then one per client.
    expect(w.h.sim.requestCounts()['GET patient/']).toBeLessThanOrEqual(2 + 1 + owners.length);
    expect(w.warnings.filter((line) => line.includes('patient/ ignores client__in'))).toHaveLength(1);
  });
});

describe('reconcile', () => {
  it('compares id ranges by count alone where modified__gt is ignored, still marking hard deletes', async () => {
    const w = await start(300, { ignoredParameters: ['modified__gt'] });
    expectLanded(await w.sync());
    const victim = Number(w.h.sim.exportState().clients[40]!.id);
    w.h.sim.deleteClient(victim);
    w.h.sim.resetRequestCounts();
    const outcome = await w.reconcile();
    expect(outcome.status).toBe('succeeded');
    if (outcome.status === 'locked') return;
    expect(outcome.streams.clients?.markedDeleted).toBe(1);
    const row = await w.h.db.pool.query<{ deleted_at: Date | null }>('SELECT deleted_at FROM clients WHERE id = $1', [
      victim,
    ]);
    expect(row.rows[0]!.deleted_at).not.toBeNull();
    // Without the count-only fallback every range would differ and all 300 clients be read in
    // small ranges; with it, the halving finds the one range.
    expect(outcome.streams.clients?.rangesRead).toBe(1);
    expect(w.warnings.filter((line) => line.includes('client/ ignores modified__gt'))).toHaveLength(1);
  });

  it.each(['id__gte', 'id__lt'])(
    'stops with an error naming %s when Provet ignores it, marking nothing',
    async (filter) => {
      const w = await start(100, { ignoredParameters: [filter] });
      expectLanded(await w.sync());
      w.h.sim.deleteClient(Number(w.h.sim.exportState().clients[5]!.id));
      const outcome = await w.reconcile();
      expect(outcome.status).toBe('failed');
      if (outcome.status !== 'failed') return;
      expect(outcome.error?.message).toContain(`Provet ignores ${filter}`);
      const marked = await w.h.db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM clients WHERE deleted_at IS NOT NULL',
      );
      expect(marked.rows[0]!.n).toBe(0);
    },
  );
});
