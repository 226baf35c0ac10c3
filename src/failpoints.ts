// Failpoints: named places where a test can have the process killed outright (SIGKILL: no cleanup,
// no rollback by the program), to prove that a crash at any of them loses nothing. Off unless
// PROVET_SYNC_CRASH_AT is set, which only the fault tests do; it is read by config.ts (the one
// reader of the environment) as a raw spec and never becomes part of the product's Config.
// A leaf module: it imports nothing, so anything may use it without pulling in more.

export const FAILPOINT_NAMES = ['before-upsert', 'after-upsert', 'after-commit', 'in-watermark'] as const;
export type FailpointName = (typeof FAILPOINT_NAMES)[number];
/** The run kinds a failpoint may be limited to. */
const FAILPOINT_RUN_KINDS = ['full', 'incremental', 'reconcile', 'webhook', 'purge'] as const;
type FailpointRunKind = (typeof FAILPOINT_RUN_KINDS)[number];

/** Called at each named place of a run of `kind`; kills the process when the spec says so. */
export type Failpoints = (point: FailpointName, kind: FailpointRunKind) => void;

export const noFailpoints: Failpoints = () => {};

export interface FailpointSpec {
  point: FailpointName;
  /** Die the n-th time the point is reached (counting only runs of `kind`, when given). */
  occurrence: number;
  kind: FailpointRunKind | null;
}

/**
 * `<point>[:<n>][@<kind>]`, e.g. `after-upsert`, `before-upsert:3`, `after-commit@webhook`.
 * Throws a RangeError that names what is expected.
 */
export function parseFailpointSpec(spec: string): FailpointSpec {
  const match = /^([a-z-]+)(?::(\d{1,6}))?(?:@([a-z]+))?$/.exec(spec);
  const point = FAILPOINT_NAMES.find((name) => name === match?.[1]);
  const kind = match?.[3] === undefined ? null : FAILPOINT_RUN_KINDS.find((k) => k === match[3]);
  const occurrence = match?.[2] === undefined ? 1 : Number(match[2]);
  if (!match || !point || kind === undefined || occurrence < 1) {
    throw new RangeError(
      `expected <point>[:<n>][@<kind>] with a point among ${FAILPOINT_NAMES.join(', ')}, n a whole number from 1, and a kind among ${FAILPOINT_RUN_KINDS.join(', ')}; got "${spec}"`,
    );
  }
  return { point, occurrence, kind };
}

export function failpointsFrom(
  spec: FailpointSpec | undefined,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): Failpoints {
  if (!spec) return noFailpoints;
  let seen = 0;
  return (point, kind) => {
    if (point !== spec.point || (spec.kind !== null && kind !== spec.kind)) return;
    seen += 1;
    if (seen === spec.occurrence) kill();
  };
}
