// The daemon's Prometheus metrics (prom-client), on a registry of this process's own so tests and
// several daemons in one process never share counters. Labels are kinds, statuses, stream names
// and endpoint templates ('GET client/<id>/'): never record values, ids or secrets.
import diagnostics from 'node:diagnostics_channel';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { readWatermarkLag } from '../db/health.js';
import type { Logger } from '../log.js';
import { endpointKey } from '../provet/budget.js';
import type { ProvetClient } from '../provet/client.js';

/** What any kind of run reports: poll, reconcile or webhook re-fetch. */
export interface ObservedRun {
  kind: string;
  status: string;
  streams?: Record<string, { written?: number; rejected?: number; markedDeleted?: number }>;
}

/** A run's outcome as the engine returns it ({ status: 'locked' } when it did not run). */
export type ObservableOutcome = { status: string; kind?: string; streams?: ObservedRun['streams'] };

interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly runs: Counter<'kind' | 'status'>;
  private readonly runDuration: Histogram<'kind'>;
  private readonly lastLanded: Gauge<'kind'>;
  private readonly upserted: Counter<'stream'>;
  private readonly rejected: Counter<'stream'>;
  private readonly markedDeleted: Counter<'stream'>;
  private readonly latency: Histogram<'endpoint'>;
  readonly webhookHints: Counter<'result'>;
  readonly hintQueue: Gauge;
  readonly webhookRefetches: Counter;
  readonly webhookDeferred: Counter;
  private readonly started = new WeakMap<object, number>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly options: { provet: ProvetClient; providerBaseUrl: string; pool: pg.Pool; logger: Logger },
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'provet_sync_process_' });
    this.runs = new Counter({
      name: 'provet_sync_runs_total',
      help: 'Runs finished, by kind (full, incremental, reconcile, webhook, purge) and status.',
      labelNames: ['kind', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: 'provet_sync_run_duration_seconds',
      help: 'Wall time of a run, by kind.',
      labelNames: ['kind'],
      buckets: [0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.lastLanded = new Gauge({
      name: 'provet_sync_last_landed_run_timestamp_seconds',
      help: 'When a run of this kind last landed (succeeded or partial), Unix time.',
      labelNames: ['kind'],
      registers,
    });
    this.upserted = new Counter({
      name: 'provet_sync_records_upserted_total',
      help: 'Records written to the mirror (new or changed), by stream.',
      labelNames: ['stream'],
      registers,
    });
    this.rejected = new Counter({
      name: 'provet_sync_records_rejected_total',
      help: 'Records kept in sync_rejects instead of the mirror, by stream.',
      labelNames: ['stream'],
      registers,
    });
    this.markedDeleted = new Counter({
      name: 'provet_sync_records_marked_deleted_total',
      help: 'Mirror rows found gone from Provet and given deleted_at, by stream.',
      labelNames: ['stream'],
      registers,
    });
    this.latency = new Histogram({
      name: 'provet_sync_api_request_duration_seconds',
      help: 'Provet API request latency per attempt (headers and body), by endpoint.',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.webhookHints = new Counter({
      name: 'provet_sync_webhook_hints_total',
      help: 'Webhook requests by result (queued, ignored, refused, invalid, too_large, queue_full).',
      labelNames: ['result'],
      registers,
    });
    this.hintQueue = new Gauge({
      name: 'provet_sync_webhook_queue_size',
      help: 'Records waiting for a webhook re-fetch.',
      registers,
    });
    this.webhookRefetches = new Counter({
      name: 'provet_sync_webhook_refetches_total',
      help: 'Records re-fetched for webhook hints (each counts against the per-minute cap).',
      registers,
    });
    this.webhookDeferred = new Counter({
      name: 'provet_sync_webhook_hints_deferred_total',
      help: 'Queued records whose re-fetch the per-minute cap postponed (each once per stay in the queue).',
      registers,
    });
    this.apiCounters(registers);
    this.watermarkGauge(registers);
    this.watchRequests();
  }

  /** The webhook re-fetch cap, shown only when webhooks are on (an unset gauge would read 0). */
  showRefetchCap(perMinute: number): void {
    new Gauge({
      name: 'provet_sync_webhook_refetch_cap_per_minute',
      help: 'At most this many webhook re-fetches in any rolling minute (WEBHOOK_MAX_REFETCHES_PER_MINUTE).',
      registers: [this.registry],
    }).set(perMinute);
  }

  /** Runs `run`, then counts it under its own kind (or `kind`) unless the lock refused it. */
  async time<T extends ObservableOutcome>(kind: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const outcome = await run();
    if (outcome.status !== 'locked') {
      this.observeRun(
        {
          kind: outcome.kind ?? kind,
          status: outcome.status,
          ...(outcome.streams ? { streams: outcome.streams } : {}),
        },
        (performance.now() - started) / 1000,
      );
    }
    return outcome;
  }

  /** Counts one finished run and its duration. */
  observeRun(run: ObservedRun, seconds: number): void {
    this.runs.inc({ kind: run.kind, status: run.status });
    this.runDuration.observe({ kind: run.kind }, seconds);
    if (run.status === 'succeeded' || run.status === 'partial')
      this.lastLanded.set({ kind: run.kind }, Date.now() / 1000);
    for (const [stream, counts] of Object.entries(run.streams ?? {})) {
      // A purge's `written` are rows it erased or deleted, not rows Provet sent.
      if (counts.written && run.kind !== 'purge') this.upserted.inc({ stream }, counts.written);
      if (counts.rejected) this.rejected.inc({ stream }, counts.rejected);
      if (counts.markedDeleted) this.markedDeleted.inc({ stream }, counts.markedDeleted);
    }
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Requests and 429s per endpoint: the API client counts them; a scrape turns them into counters. */
  private apiCounters(registers: Registry[]): void {
    const provet = this.options.provet;
    const seen = new Map<string, number>();
    const deltaCounter = (name: string, help: string, pick: (s: { requests: number; throttled: number }) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['endpoint'],
        registers,
        collect() {
          for (const [endpoint, stats] of Object.entries(provet.stats().byEndpoint)) {
            const key = `${name} ${endpoint}`;
            const value = pick(stats);
            const delta = value - (seen.get(key) ?? 0);
            if (delta > 0) this.inc({ endpoint }, delta);
            seen.set(key, value);
          }
        },
      });
    deltaCounter(
      'provet_sync_api_requests_total',
      'Provet API requests sent (each attempt), by endpoint.',
      (s) => s.requests,
    );
    deltaCounter(
      'provet_sync_api_throttled_total',
      'Provet API answers 429 (rate limited), by endpoint.',
      (s) => s.throttled,
    );
  }

  private watermarkGauge(registers: Registry[]): void {
    const { pool, logger } = this.options;
    new Gauge({
      name: 'provet_sync_watermark_lag_seconds',
      help: "How far each stream's watermark is behind the database clock.",
      labelNames: ['stream'],
      registers,
      async collect() {
        try {
          for (const { stream, lagSeconds } of await readWatermarkLag(pool)) this.set({ stream }, lagSeconds);
        } catch (err) {
          // A scrape during a database outage still answers; readiness says what is wrong.
          logger.debug({ err: { message: (err as Error).message } }, 'watermark lag not read for metrics');
        }
      },
    });
  }

  /**
   * Request latency without touching the API client: undici publishes every request's life on
   * diagnostics channels. Only requests to the configured Provet origin are measured.
   */
  private watchRequests(): void {
    const base = new URL(this.options.providerBaseUrl);
    const endpointOf = (request: UndiciRequest): string | null => {
      try {
        if (new URL(String(request.origin)).origin !== base.origin) return null;
        const path = String(request.path).split('?')[0] ?? '';
        const method = String(request.method);
        return path.startsWith(base.pathname)
          ? endpointKey(method, path.slice(base.pathname.length))
          : `${method} (outside the API root)`;
      } catch {
        return null;
      }
    };
    const on = (channel: string, fn: (message: { request: UndiciRequest }) => void) => {
      const listener = (message: unknown) => fn(message as { request: UndiciRequest });
      diagnostics.subscribe(channel, listener);
      this.unsubscribe.push(() => diagnostics.unsubscribe(channel, listener));
    };
    on('undici:request:create', ({ request }) => {
      if (endpointOf(request) !== null) this.started.set(request, performance.now());
    });
    const done = ({ request }: { request: UndiciRequest }) => {
      const start = this.started.get(request);
      if (start === undefined) return;
      this.started.delete(request);
      this.latency.observe({ endpoint: endpointOf(request) ?? 'unknown' }, (performance.now() - start) / 1000);
    };
    on('undici:request:trailers', done);
    on('undici:request:error', done);
  }
}
