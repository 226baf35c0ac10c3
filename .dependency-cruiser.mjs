// The walls between the layers, checked by `npm run lint` (before eslint) with dependency-cruiser.
// It follows every kind of edge TypeScript source has: static, `import type`, `export ... from`,
// dynamic `import()` and `typeof import()` in types, so a wall can't be walked round with a type
// import or a lazy one.
//
//   cli.ts, demo.ts     the entry points (demo-fleet.ts, `demo --fleet`, is the demo's: every rule
//                       treats it as demo.ts, so it may start the simulator and drive fleet/)
//   fleet/              many installations: the registry's commands (and, next, the workers)
//   daemon/             schedules runs, serves HTTP
//   sync/               the runs: read provet/, write db/
//   provet/, db/        the API client and the mirror
//   config.ts, log.ts…  the top-level helpers, imported from every layer
//
// A layer imports none above it. simulator/ (a fake Provet Cloud) stands apart: only cli.ts and
// demo.ts (and demo-fleet.ts) import it, and it imports nothing of src/ outside itself.
//
// Tests and benchmarks may import anything, but take part in the cycle check.
//
// A broken wall fails the lint. With a scratch src/provet/x.ts holding
// `import { runSync } from '../sync/run.js';`, `npm run lint:imports` exits 1 (the number of
// errors) and prints:
//
//   error provet-db-below-sync-daemon: src/provet/x.ts → src/sync/run.ts
//
//   x 1 dependency violations (1 error, 0 warnings). <n> modules, <m> dependencies cruised.
//
// A cycle lists its modules; before admin.ts took its Simulator type from types.ts it read:
//
//   error no-cycles: src/simulator/admin.ts →
//       src/simulator/index.ts →
//       src/simulator/admin.ts

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycles anywhere, type-only ones included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'provet-db-below-sync-daemon',
      comment: 'provet/ and db/ are the layers runs are built from: they import neither sync/ nor daemon/ nor the CLI.',
      severity: 'error',
      from: { path: '^src/(provet|db)/' },
      to: { path: '^src/(sync/|daemon/|cli[.]ts$|demo(-fleet)?[.]ts$)' },
    },
    {
      name: 'sync-below-daemon',
      comment: 'A run knows nothing of the daemon that schedules it or the CLI that starts it.',
      severity: 'error',
      from: { path: '^src/sync/' },
      to: { path: '^src/(daemon/|cli[.]ts$|demo(-fleet)?[.]ts$)' },
    },
    {
      name: 'daemon-below-entry-points',
      comment: 'The daemon is started by the CLI; it imports neither the CLI nor the demo.',
      severity: 'error',
      from: { path: '^src/daemon/' },
      to: { path: '^src/(cli|demo(-fleet)?)[.]ts$' },
    },
    {
      name: 'shared-modules-below-everything',
      comment:
        'config.ts, log.ts and the other top-level helpers are imported by provet/ and db/, so they import no layer above those.',
      severity: 'error',
      from: { path: '^src/[^/]+[.]ts$', pathNot: '^src/(cli|demo(-fleet)?)[.]ts$' },
      to: { path: '^src/(sync/|daemon/|cli[.]ts$|demo(-fleet)?[.]ts$)' },
    },
    {
      name: 'fleet-above-the-runs',
      comment:
        'fleet/ drives runs of many installations; nothing below it (daemon, sync, provet, db, helpers) imports it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(fleet/|cli[.]ts$|demo(-fleet)?[.]ts$)' },
      to: { path: '^src/fleet/' },
    },
    {
      name: 'fleet-below-entry-points',
      comment: 'fleet/ is started by the CLI; it imports neither the CLI nor the demo.',
      severity: 'error',
      from: { path: '^src/fleet/' },
      to: { path: '^src/(cli|demo(-fleet)?)[.]ts$' },
    },
    {
      name: 'simulator-only-from-entry-points',
      comment: 'The product reaches the simulator only through the CLI (simulate) and the demo.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(simulator/|cli[.]ts$|demo(-fleet)?[.]ts$)' },
      to: { path: '^src/simulator/' },
    },
    {
      name: 'simulator-imports-no-product',
      comment:
        'The simulator reads the same documents as the product but shares none of its code, so it cannot share its mistakes.',
      severity: 'error',
      from: { path: '^src/simulator/' },
      to: { path: '^src/', pathNot: '^src/simulator/' },
    },
    {
      name: 'resolvable',
      comment: 'An import the cruiser cannot resolve is an edge no wall sees; keep every one resolvable.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
