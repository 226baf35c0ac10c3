// A worker's Prometheus metrics (prom-client), on a registry of its own: the worker's slots, and
// per installation (label `installation`, the registry's name: a slug, never a secret) its runs,
// their duration, the rows they wrote and when a sync last landed. Labels besides `installation`
// come from small fixed sets (kind, status), so a series count is the installations times a few.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a job reports once it has finished, landed or not ('locked' and handed-back runs are not reported). */
export interface InstallationRunReport {
  /** `full`, `incremental` or `reconcile` for a run; `sync` or `reconcile` (the job's kind) when it failed before it began. */
  kind: string;
  status: 'succeeded' | 'partial' | 'failed';
  streams?: Record<string, { written?: number; rejected?: number }>;
  requests?: number;
  throttled?: number;
}

/** What the worker knows of its own slots, read at scrape time. */
interface Slots {
  readonly concurrency: number;
  inUse(): number;
  backfills(): number;
  lost(): number;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly runs: Counter<'installation' | 'kind' | 'status'>;
  private readonly runDuration: Histogram<'installation' | 'kind'>;
  private readonly lastLanded: Gauge<'installation'>;
  private readonly written: Counter<'installation'>;
  private readonly rejected: Counter<'installation'>;
  private readonly requests: Counter<'installation'>;
  private readonly throttled: Counter<'installation'>;

  constructor(slots: Slots) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'provet_sync_process_' });
    new Gauge({
      name: 'provet_sync_worker_concurrency',
      help: 'Installations this worker runs at once at most (WORKER_CONCURRENCY).',
      registers,
    }).set(slots.concurrency);
    new Gauge({
      name: 'provet_sync_worker_slots_in_use',
      help: 'Runs this worker has in flight.',
      registers,
      collect() {
        this.set(slots.inUse());
      },
    });
    new Gauge({
      name: 'provet_sync_worker_backfills_running',
      help: "Backfills (an installation's first sync) this worker has in flight.",
      registers,
      collect() {
        this.set(slots.backfills());
      },
    });
    new Gauge({
      name: 'provet_sync_worker_slots_lost',
      help: 'Slots the queue stopped after an error (a job it could not release): this worker runs that many fewer at once until restarted.',
      registers,
      collect() {
        this.set(slots.lost());
      },
    });
    this.runs = new Counter({
      name: 'provet_sync_installation_runs_total',
      help: 'Runs finished by this worker, by installation, kind (full, incremental, reconcile; sync or reconcile when it failed before it began) and status.',
      labelNames: ['installation', 'kind', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: 'provet_sync_installation_run_duration_seconds',
      help: 'Wall time of a run finished by this worker, by installation and kind.',
      labelNames: ['installation', 'kind'],
      // Fewer buckets than the daemon's: one set per installation and kind.
      buckets: [1, 5, 30, 120, 600, 3600],
      registers,
    });
    this.lastLanded = new Gauge({
      name: 'provet_sync_installation_last_landed_sync_timestamp_seconds',
      help: 'When a sync (full or incremental) of this installation last landed (succeeded or partial) in this worker, Unix time.',
      labelNames: ['installation'],
      registers,
    });
    this.written = new Counter({
      name: 'provet_sync_installation_records_upserted_total',
      help: "Records written to the installation's mirror (new or changed) by this worker's runs.",
      labelNames: ['installation'],
      registers,
    });
    this.rejected = new Counter({
      name: 'provet_sync_installation_records_rejected_total',
      help: "Records kept in the installation's sync_rejects instead of its mirror by this worker's runs.",
      labelNames: ['installation'],
      registers,
    });
    this.requests = new Counter({
      name: 'provet_sync_installation_api_requests_total',
      help: "Provet API requests (each attempt) of this worker's runs, by installation.",
      labelNames: ['installation'],
      registers,
    });
    this.throttled = new Counter({
      name: 'provet_sync_installation_api_throttled_total',
      help: "Provet API answers 429 (rate limited) to this worker's runs, by installation.",
      labelNames: ['installation'],
      registers,
    });
  }

  /** Counts one finished run of `installation`. */
  observe(installation: string, run: InstallationRunReport, seconds: number): void {
    this.runs.inc({ installation, kind: run.kind, status: run.status });
    this.runDuration.observe({ installation, kind: run.kind }, seconds);
    if ((run.kind === 'full' || run.kind === 'incremental') && run.status !== 'failed')
      this.lastLanded.set({ installation }, Date.now() / 1000);
    let written = 0;
    let rejected = 0;
    for (const counts of Object.values(run.streams ?? {})) {
      written += counts.written ?? 0;
      rejected += counts.rejected ?? 0;
    }
    // Every counter of an installation that ran is shown, at 0 until something counts.
    this.written.inc({ installation }, written);
    this.rejected.inc({ installation }, rejected);
    this.requests.inc({ installation }, run.requests ?? 0);
    this.throttled.inc({ installation }, run.throttled ?? 0);
  }
}
