// A model-based test: fast-check generates random sequences of clinic edits, API faults, stop
// requests and sync runs; after each sequence the faults stop and the four invariants must hold.
// Bounded for CI (a few sequences). The soak variant is the same test for longer:
//   SOAK_SECONDS=600 SOAK_SEED=42 npm run soak
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { FaultSettings } from '../../src/simulator/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { expectInvariants, installAudit, SourceHistory } from './invariants.js';

type Action =
  | { kind: 'edit'; pick: number; value: string }
  | { kind: 'archive'; pick: number; archived: boolean }
  | { kind: 'deceased'; pick: number; date: string | null }
  | { kind: 'customValue'; pick: number; value: string | null }
  | { kind: 'phone'; pick: number; op: 'add' | 'change' | 'remove' }
  | { kind: 'create'; pick: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'deleteMidRun'; pick: number; afterListRequests: number; full: boolean }
  | { kind: 'fault'; faults: FaultSettings }
  | { kind: 'sync' }
  | { kind: 'stopMidRun'; afterMs: number };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('edit' as const), pick: fc.nat(), value: fc.string({ maxLength: 12 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('archive' as const), pick: fc.nat(), archived: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deceased' as const),
      pick: fc.nat(),
      date: fc.option(fc.constantFrom('2024-03-20', '2025-01-02'), { nil: null }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('customValue' as const),
      pick: fc.nat(),
      value: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: null }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('phone' as const),
      pick: fc.nat(),
      op: fc.constantFrom('add' as const, 'change' as const, 'remove' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('create' as const), pick: fc.nat() }) },
  // Hard deletes, as Provet's UI makes them: between runs, and in the middle of a run's walk.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deleteMidRun' as const),
      pick: fc.nat(),
      afterListRequests: fc.integer({ min: 1, max: 8 }),
      full: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fault' as const),
      faults: fc.oneof(
        fc.constant({ errorRate: 0.3 }),
        fc.constant({ dropRate: 0.2 }),
        fc.constant({ truncateRate: 0.2 }),
        fc.constant({}),
      ),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'sync' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('stopMidRun' as const), afterMs: fc.integer({ min: 5, max: 120 }) }),
  },
);

/** Requests to the record lists so far: how far a run's walk has gone. */
function listRequests(h: Harness): number {
  const counts = h.sim.requestCounts();
  return (counts['GET client/'] ?? 0) + (counts['GET patient/'] ?? 0);
}

async function apply(h: Harness, history: SourceHistory, action: Action): Promise<void> {
  const state = h.sim.exportState();
  if (
    state.clients.length === 0 &&
    action.kind !== 'sync' &&
    action.kind !== 'fault' &&
    action.kind !== 'stopMidRun' &&
    action.kind !== 'create'
  )
    return;
  const client = state.clients[('pick' in action ? action.pick : 0) % state.clients.length]!;
  const clientId = Number(client.id);
  const patients = state.patients.filter((p) => p.client === client.url);
  const patient = patients[0];
  switch (action.kind) {
    case 'edit':
      h.sim.updateClient(clientId, { lastname: `M ${action.value}` });
      history.record('client', [clientId]);
      return;
    case 'archive':
      h.sim.updateClient(clientId, { archived: action.archived });
      history.record('client', [clientId]);
      return;
    case 'deceased':
      if (!patient) return;
      h.sim.updatePatient(Number(patient.id), { deceased: action.date });
      history.record('patient', [Number(patient.id)]);
      return;
    case 'customValue': {
      if (!patient) return;
      const field = state.customFields.find(
        (f) => String(f.model).toLowerCase().includes('patient') && f.type === 'text',
      );
      if (!field) return;
      const others = ((patient.fields_rel ?? []) as { field_id: number; value: unknown }[]).filter(
        (f) => f.field_id !== Number(field.id),
      );
      const fields = action.value === null ? others : [...others, { field_id: Number(field.id), value: action.value }];
      h.sim.updatePatient(Number(patient.id), {
        fields_rel: fields.map((f) => ({ field_id: f.field_id, value: f.value })),
      });
      history.record('patient', [Number(patient.id)]);
      return;
    }
    case 'phone': {
      const numbers = state.phoneNumbers.filter((n) => n.client === client.url);
      if (action.op === 'add' || numbers.length === 0)
        h.sim.addPhoneNumber(clientId, { phone_number: `+35840${clientId}${numbers.length}`, type_code: 1 });
      else if (action.op === 'change')
        h.sim.updatePhoneNumber(Number(numbers[0]!.id), { phone_number: `+35850${clientId}` });
      else h.sim.removePhoneNumber(Number(numbers[0]!.id));
      history.record('client', [clientId]);
      return;
    }
    case 'create': {
      const created = h.sim.createClient({ firstname: 'Model', lastname: `New ${action.pick}`, country: 'FI' });
      h.sim.createPatient({
        client: created.url,
        name: 'Pet',
        species: Number(state.species[0]!.id),
        gender: 'Female',
      });
      history.record('client', [Number(created.id)]);
      return;
    }
    case 'delete':
      history.deleteClient(clientId);
      return;
    case 'deleteMidRun': {
      // Once the run has made `afterListRequests` list requests, a client of the first page goes
      // (polled, bounded): behind the walk, where a page-number walk would skip the next record.
      const victim = Number(state.clients[action.pick % Math.min(10, state.clients.length)]!.id);
      const start = listRequests(h);
      let deleted = false;
      // A full run (`sync --full`) walks every page, so the delete surely lands mid-walk.
      const run = h.sync({ full: action.full });
      let finished = false;
      void run.finally(() => (finished = true)).catch(() => {});
      for (let i = 0; i < 5_000 && !finished && !deleted; i++) {
        if (listRequests(h) - start >= action.afterListRequests) {
          history.deleteClient(victim);
          deleted = true;
        } else await new Promise((r) => setTimeout(r, 1));
      }
      await run;
      if (!deleted) history.deleteClient(victim);
      return;
    }
    case 'fault':
      h.sim.setFaults('global', action.faults);
      return;
    case 'sync':
      await h.sync();
      return;
    case 'stopMidRun': {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), action.afterMs);
      await h.sync({ signal: controller.signal }).finally(() => clearTimeout(timer));
      return;
    }
  }
}

const soakSeconds = Number(process.env.SOAK_SECONDS ?? 0);
const seed = Number(process.env.SOAK_SEED ?? 20261126);

it(
  soakSeconds > 0
    ? `soak: random edit/fault/run sequences for ${soakSeconds}s (seed ${seed})`
    : 'random edit/fault/run sequences keep the four invariants',
  async () => {
    const deadline = Date.now() + soakSeconds * 1000;
    let sequences = 0;
    let syncs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 4, maxLength: 14 }), async (actions) => {
        // Phone numbers and nested custom values do not move modified by default, so the
        // poll cannot see them (reconciliation does); here they do, so convergence is decidable.
        const h = await startHarness({
          simulator: {
            clients: 40,
            seed: seed + sequences,
            behaviour: { phoneChangeMovesClientModified: true, customValueChangeMovesModified: true },
          },
          pageSize: 10,
          // A short lookback: with the default two minutes every run would re-read all that a
          // sequence changed, and a record an earlier run skipped would be repaired unseen.
          lookbackSeconds: 1,
          client: { retryDeadlineMs: 20_000, maxRetries: 20 },
        });
        sequences += 1;
        try {
          await installAudit(h.db.pool);
          const history = new SourceHistory(h.sim);
          history.recordAll();
          for (const action of actions) {
            if (action.kind === 'sync' || action.kind === 'stopMidRun' || action.kind === 'deleteMidRun') syncs += 1;
            await apply(h, history, action);
          }
          h.sim.setFaults('global', null);
          // Hard deletes are seen by reconciliation only: convergence is judged after one.
          await expectInvariants(h, history, { reconcile: true });
        } finally {
          await h.close();
        }
      }),
      soakSeconds > 0
        ? {
            seed,
            numRuns: 1_000_000,
            interruptAfterTimeLimit: soakSeconds * 1000,
            markInterruptAsFailure: false,
            endOnFailure: true,
          }
        : { seed, numRuns: 25, endOnFailure: true },
    );
    expect(sequences).toBeGreaterThanOrEqual(soakSeconds > 0 ? 1 : 25);
    expect(syncs).toBeGreaterThan(0);
    if (soakSeconds > 0)
      console.log(
        `soak: ${sequences} sequences, ${syncs} runs, seed ${seed}, ${Math.round((Date.now() - deadline) / 1000 + soakSeconds)}s`,
      );
  },
  soakSeconds > 0 ? soakSeconds * 1000 + 120_000 : 180_000,
);
