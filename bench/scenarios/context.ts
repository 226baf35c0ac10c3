// What every scenario is handed: the database, a scratch folder for logs and profiles, the
// simulator latency, and a progress logger (stderr, so stdout keeps only the table).
import type { BenchDatabase } from '../lib/postgres.js';

export interface BenchContext {
  db: BenchDatabase;
  workDir: string;
  /** Added by the simulator to every request: a loopback server answers faster than Provet. */
  latencyMs: number;
  log(message: string): void;
}
