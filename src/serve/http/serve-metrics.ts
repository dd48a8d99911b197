// Prometheus metrics of the API (prom-client), on a registry of its own so two servers in one process
// (tests) do not share counters. Requests and their latency are counted by RequestStats (request-stats.ts),
// which prom-client renders at scrape time.
import client from 'prom-client';
import { RequestStats } from './request-stats.ts';
import type { Route } from './router.ts';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  inFlight: number;
  queued: number;
}

export class ServeMetrics {
  readonly registry = new client.Registry();
  readonly contentType = this.registry.contentType;
  private readonly requests: RequestStats;
  private readonly batchSize: client.Histogram;
  private readonly servedRunId: client.Gauge<'job'>;
  private readonly servedDate: client.Gauge<'job'>;
  private readonly served = new Map<string, number>();

  constructor(poolStats: () => PoolStats) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'batchcast_serve_' });
    // Lookups answer in 0.3-3 ms on a 2-core box; buckets resolve that range and the 2 and 5 ms p99 targets.
    this.requests = new RequestStats(this.registry, [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5]);
    this.batchSize = new client.Histogram({
      name: 'batchcast_lookup_batch_users',
      help: 'Users read by one lookup statement (micro-batching)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.servedRunId = new client.Gauge({
      name: 'batchcast_served_run_id',
      help: 'Run id of the latest published generation served, per job',
      labelNames: ['job'],
      registers,
    });
    this.servedDate = new client.Gauge({
      name: 'batchcast_served_prediction_date_seconds',
      help: 'Prediction date (Unix seconds, 00:00 UTC) of the latest generation served, per job',
      labelNames: ['job'],
      registers,
    });
    const gauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(pick(poolStats()));
        },
      });
    gauge('batchcast_db_pool_connections', 'Connections open in the lookup pool', (s) => s.total);
    gauge('batchcast_db_pool_idle_connections', 'Idle connections in the lookup pool', (s) => s.idle);
    gauge('batchcast_db_pool_waiting_clients', 'Callers waiting for a pool connection', (s) => s.waiting);
    gauge('batchcast_lookup_batches_in_flight', 'Lookup statements running now', (s) => s.inFlight);
    gauge('batchcast_lookups_queued', 'Lookups waiting to join the next statement', (s) => s.queued);
  }

  observe(route: Route, method: string, status: number, seconds: number): void {
    // Methods other than GET and HEAD are folded, so a fuzzer cannot grow the label set.
    const m = method === 'GET' || method === 'HEAD' || method === 'POST' ? method : 'other';
    this.requests.observe(route, m, status, seconds);
  }

  observeBatch(size: number): void {
    this.batchSize.observe(size);
  }

  /** The generation a job's latest-date lookups were answered from; cheap when unchanged. */
  setServed(job: string, date: string, runId: number): void {
    if (this.served.get(job) === runId) return;
    this.served.set(job, runId);
    this.servedRunId.labels(job).set(runId);
    this.servedDate.labels(job).set(Date.parse(`${date}T00:00:00Z`) / 1000);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
