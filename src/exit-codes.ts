// provet-sync's exit codes: 0 the run landed (rejected records or not) or the process was asked to
// stop, 1 the run failed (watermark unchanged), 2 bad configuration or usage, 3 another run holds
// the lock and nothing was done.
export const EXIT = { ok: 0, failed: 1, usage: 2, locked: 3 } as const;
