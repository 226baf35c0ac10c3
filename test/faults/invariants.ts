// The four invariants every fault test checks, and the bookkeeping they need:
// 1. convergence: after one clean run the mirror equals the source (test/support/compare.ts);
// 2. watermark safety: no stored watermark passes a change that had not landed;
// 3. monotonic rows: no mirror row goes back to an older version of its record;
// 4. idempotence: a run with no source changes writes no rows.
// Triggers installed in the test's own database record every watermark write (with a snapshot
// of the mirror at that moment) and every row that moved back in `modified`.
import type pg from 'pg';
import { expect } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { runReconcile } from '../../src/sync/reconcile.js';
import { mirrorDifferences } from '../support/compare.js';
import { startHarness, whenUnlocked, type Harness } from '../support/harness.js';

export async function installAudit(pool: pg.Pool): Promise<void> {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS watermark_audit (
      id bigserial PRIMARY KEY, stream text, watermark timestamptz, written_at timestamptz DEFAULT clock_timestamp(),
      snapshot jsonb);
    CREATE TABLE IF NOT EXISTS row_regressions (tbl text, id bigint, old_modified timestamptz, new_modified timestamptz);
    CREATE OR REPLACE FUNCTION audit_watermark() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.stream IN ('clients', 'patients') AND NEW.watermark IS DISTINCT FROM OLD.watermark THEN
        INSERT INTO watermark_audit (stream, watermark, snapshot)
        SELECT NEW.stream, NEW.watermark,
          CASE NEW.stream
            WHEN 'clients' THEN (SELECT coalesce(jsonb_object_agg(id::text, md5(raw::text)), '{}') FROM clients)
            ELSE (SELECT coalesce(jsonb_object_agg(id::text, md5(raw::text)), '{}') FROM patients) END;
      END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE FUNCTION audit_regression() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.modified < OLD.modified THEN
        INSERT INTO row_regressions VALUES (TG_TABLE_NAME, OLD.id, OLD.modified, NEW.modified);
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS audit_watermark ON sync_state;
    CREATE TRIGGER audit_watermark AFTER INSERT OR UPDATE ON sync_state FOR EACH ROW EXECUTE FUNCTION audit_watermark();
    DROP TRIGGER IF EXISTS audit_regression ON clients;
    CREATE TRIGGER audit_regression BEFORE UPDATE ON clients FOR EACH ROW EXECUTE FUNCTION audit_regression();
    DROP TRIGGER IF EXISTS audit_regression ON patients;
    CREATE TRIGGER audit_regression BEFORE UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION audit_regression();
  `);
}

interface Version {
  kind: 'client' | 'patient';
  id: number;
  /** The simulator's clock right after the change: when it happened at the source. */
  at: number;
  /** This machine's clock then: a watermark written before this moment cannot owe this version. */
  realAt: number;
  raw: Record<string, unknown>;
}

/** Records every version the test makes at the source, to check watermark writes against. */
export class SourceHistory {
  readonly versions: Version[] = [];
  /** `client:<id>` / `patient:<id>` → this machine's clock when the source hard-deleted it. */
  readonly deletedAt = new Map<string, number>();
  constructor(private readonly sim: Simulator) {}

  /** Hard-deletes a client at the source (as Provet's UI can, with its patients) and notes when. */
  deleteClient(id: number): void {
    const state = this.sim.exportState();
    const client = state.clients.find((c) => Number(c.id) === id);
    if (!client) return;
    const patients = state.patients.filter((p) => p.client === client.url).map((p) => Number(p.id));
    this.sim.deleteClient(id);
    const now = Date.now();
    this.deletedAt.set(`client:${id}`, now);
    for (const patient of patients) this.deletedAt.set(`patient:${patient}`, now);
  }

  /**
   * Call after a change: records the current source version of each named record, and for
   * clients of their patients too (archiving a client changes them as well).
   */
  record(kind: 'client' | 'patient', ids: readonly number[]): void {
    const state = this.sim.exportState();
    const wanted = new Set(ids);
    const at = this.sim.now().getTime();
    if (kind === 'patient') {
      for (const raw of state.patients)
        if (wanted.has(Number(raw.id))) this.versions.push({ kind, id: Number(raw.id), at, realAt: Date.now(), raw });
      return;
    }
    const urls = new Set<unknown>();
    for (const raw of state.clients) {
      if (!wanted.has(Number(raw.id))) continue;
      this.versions.push({ kind, id: Number(raw.id), at, realAt: Date.now(), raw });
      urls.add(raw.url);
    }
    for (const raw of state.patients)
      if (urls.has(raw.client))
        this.versions.push({ kind: 'patient', id: Number(raw.id), at, realAt: Date.now(), raw });
  }

  /** Records every record of the source as it is now (e.g. before a first run). */
  recordAll(): void {
    const state = this.sim.exportState();
    const at = this.sim.now().getTime();
    for (const raw of state.clients)
      this.versions.push({ kind: 'client', id: Number(raw.id), at, realAt: Date.now(), raw });
    for (const raw of state.patients)
      this.versions.push({ kind: 'patient', id: Number(raw.id), at, realAt: Date.now(), raw });
  }
}

/**
 * Invariant 2. For every audited watermark write W of a stream, every record changed at the source
 * before W (by the source's clock) and before the write itself (in real time) must already be in
 * the mirror snapshot taken at that write, with that version or a later one. Returns the violations.
 */
async function watermarkViolations(pool: pg.Pool, history: SourceHistory): Promise<string[]> {
  const audits = (
    await pool.query<{ stream: string; w: number; writtenAt: number; snapshot: Record<string, string> }>(
      `SELECT stream, extract(epoch FROM watermark)::float8 * 1000 AS w, extract(epoch FROM written_at)::float8 * 1000 AS "writtenAt",
            snapshot FROM watermark_audit ORDER BY id`,
    )
  ).rows;
  // md5 of each version as PostgreSQL would store it, computed by PostgreSQL itself.
  const hashes = (
    await pool.query<{ h: string }>('SELECT md5(v::jsonb::text) AS h FROM unnest($1::text[]) AS v', [
      history.versions.map((v) => JSON.stringify(v.raw)),
    ])
  ).rows.map((r) => r.h);
  const violations: string[] = [];
  const clientAudits = audits.filter((a) => a.stream === 'clients');
  for (const audit of audits) {
    const w = audit.w;
    const kind = audit.stream === 'clients' ? 'client' : 'patient';
    // The clients watermark stored when this one was written: the client and patient streams are
    // read side by side, and either may land (and store its watermark) without the other.
    const clientsWatermark = Math.max(
      -Infinity,
      ...clientAudits.filter((a) => a.writtenAt <= audit.writtenAt).map((a) => a.w),
    );
    const latestBefore = new Map<number, number[]>();
    history.versions.forEach((v, i) => {
      if (v.kind !== kind || v.at >= w || v.realAt >= audit.writtenAt) return;
      const list = latestBefore.get(v.id) ?? [];
      list.push(i);
      latestBefore.set(v.id, list);
    });
    for (const [id, indexes] of latestBefore) {
      // A record deleted before the watermark was written cannot be read any more: nothing is owed.
      const deleted = history.deletedAt.get(`${kind}:${id}`);
      if (deleted !== undefined && deleted < audit.writtenAt) continue;
      const mirrored = audit.snapshot[String(id)];
      // A patient change that did not move `modified` (the archive cascade) is invisible to the
      // patient list's `modified__gte`: it is owed through its client, whose change did move. Until
      // the clients watermark has passed that change (the client stream failed, say), the next
      // client read owes it, and the patients watermark owes only the versions before it.
      let owed = indexes.length - 1;
      while (kind === 'patient' && owed > 0 && history.versions[indexes[owed]!]!.at >= clientsWatermark) {
        const version = history.versions[indexes[owed]!]!;
        const previous = history.versions[indexes[owed - 1]!]!;
        if (version.raw.modified !== previous.raw.modified) break;
        owed -= 1;
      }
      const acceptable = history.versions
        .map((_, i) => i)
        .filter((i) => history.versions[i]!.kind === kind && history.versions[i]!.id === id && i >= indexes[owed]!);
      if (!mirrored || !acceptable.some((i) => hashes[i] === mirrored)) {
        violations.push(
          `${audit.stream} watermark ${new Date(w).toISOString()} passed ${kind} ${id} (changed before it, not in the mirror at that moment)`,
        );
      }
    }
  }
  return violations;
}

async function rowRegressions(pool: pg.Pool): Promise<unknown[]> {
  return (await pool.query('SELECT * FROM row_regressions')).rows;
}

/** Row versions (xmin) of every mirrored row. */
export async function rowVersions(pool: pg.Pool): Promise<Map<string, string>> {
  const result = await pool.query<{ key: string; v: string }>(`
    SELECT 'c' || id AS key, xmin::text AS v FROM clients UNION ALL
    SELECT 'p' || id, xmin::text FROM patients UNION ALL
    SELECT 'n' || id, xmin::text FROM phone_numbers UNION ALL
    SELECT 'v' || object_type || id, xmin::text FROM custom_field_values`);
  return new Map(result.rows.map((r) => [r.key, r.v]));
}

/**
 * After the faults have stopped: one clean run lands; the mirror equals the source; no watermark
 * write passed a change; no row went back; and a further run with no change writes nothing.
 * Records the source hard-deleted may linger in the mirror unflagged (polling cannot see a delete);
 * with `reconcile`, a reconciliation runs after the comparison and they must then be flagged.
 */
export async function expectInvariants(
  h: Harness,
  history: SourceHistory,
  options: { reconcile?: boolean } = {},
): Promise<void> {
  const clean = await whenUnlocked(() => h.sync());
  if (clean.status !== 'succeeded' && clean.status !== 'partial')
    throw new Error(`the clean run did not land: ${clean.status === 'failed' ? clean.error?.message : clean.status}`);
  // Judged before any reconciliation, which would repair a record the runs skipped and so hide it.
  expect(await mirrorDifferences(h.db.pool, h.sim.exportState(), { deletedMayLinger: true }), 'convergence').toEqual(
    [],
  );
  if (options.reconcile) {
    const reconciled = await runReconcile({
      pool: h.db.pool,
      schema: h.db.schema,
      provet: h.provet,
      logger: h.logger,
      pageSize: 100,
    });
    if (reconciled.status !== 'succeeded' && reconciled.status !== 'partial')
      throw new Error(
        `reconciliation did not land: ${reconciled.status === 'failed' ? reconciled.error?.message : reconciled.status}`,
      );
    expect(
      await mirrorDifferences(h.db.pool, h.sim.exportState()),
      'convergence after reconciliation: hard deletes flagged',
    ).toEqual([]);
  }
  expect(await watermarkViolations(h.db.pool, history), 'watermark safety').toEqual([]);
  expect(await rowRegressions(h.db.pool), 'monotonic rows').toEqual([]);
  const before = await rowVersions(h.db.pool);
  const idle = await h.sync();
  expect(idle.status).toBe('succeeded');
  expect(await rowVersions(h.db.pool), 'idempotence').toEqual(before);
}

/** A fault test's world: the harness, the audit triggers, and the source's history from the start. */
export async function startAuditedHarness(
  options: Parameters<typeof startHarness>[0],
): Promise<{ h: Harness; history: SourceHistory }> {
  const h = await startHarness(options);
  await installAudit(h.db.pool);
  const history = new SourceHistory(h.sim);
  history.recordAll();
  return { h, history };
}
