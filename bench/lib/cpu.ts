// CPU time of the processes a scenario runs on, read from /proc (Linux): to tell "the sync waits
// on something" from "the machine has no core left". The PostgreSQL figure sums every process
// named postgres, with the CPU of exited backends (reaped into the postmaster's cutime), so it
// counts only when the benchmark's server is the only PostgreSQL doing work on this machine.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function statFields(pid: string): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces; fields after it start past the last ')'.
    const close = text.lastIndexOf(')');
    return [text.slice(text.indexOf('(') + 1, close), ...text.slice(close + 2).split(' ')];
  } catch {
    return null;
  }
}

/** utime + stime (+ reaped children's) in seconds; fields per proc(5), index 0 is comm. */
function cpuSeconds(fields: string[], withChildren: boolean): number {
  const [utime, stime, cutime, cstime] = [12, 13, 14, 15].map((i) => Number(fields[i]));
  return ((utime ?? 0) + (stime ?? 0) + (withChildren ? (cutime ?? 0) + (cstime ?? 0) : 0)) / TICKS_PER_SECOND;
}

/** CPU seconds of one process so far (null where /proc is not there or the process is gone). */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const fields = statFields(String(pid));
  return fields ? cpuSeconds(fields, false) : null;
}

/** CPU seconds of all PostgreSQL processes so far, exited backends included; null without /proc. */
export function postgresCpuSeconds(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let total = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields?.[0] === 'postgres') total += cpuSeconds(fields, true);
  }
  return total;
}
