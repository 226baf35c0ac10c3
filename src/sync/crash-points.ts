// Named places where a test can have the process killed outright (SIGKILL: no cleanup, no
// rollback by the program), to prove that a crash at any of them loses nothing. Off unless
// PROVET_SYNC_CRASH_AT is set, which only the fault tests do.
export const CRASH_POINTS = ['before-upsert', 'after-upsert', 'after-commit', 'in-watermark'] as const;
export type CrashPointName = (typeof CRASH_POINTS)[number];
export type CrashPoint = (point: CrashPointName) => void;

export const noCrashPoints: CrashPoint = () => {};

/** `spec` is `<point>` or `<point>:<n>` (die at the n-th time the point is reached, default 1). */
export function crashPointsFrom(spec: { point: CrashPointName; occurrence: number } | undefined): CrashPoint {
  if (!spec) return noCrashPoints;
  let seen = 0;
  return (point) => {
    if (point !== spec.point) return;
    seen += 1;
    if (seen === spec.occurrence) process.kill(process.pid, 'SIGKILL');
  };
}
