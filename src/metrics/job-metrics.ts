// Per-job batch metrics in Prometheus' conventions for batch jobs (last success time, last run's duration
// and rows, outcomes), plus the drift figures of the latest comparison. The figures are read from the ledger
// (src/store/job-figures.ts), so `serve`'s /metrics and a Pushgateway push (push-metrics.ts) show the same
// numbers from the same two queries.
//
// The job is the label `batchcast_job`, not `job`: Prometheus sets `job` to the scrape target's name (and
// renames ours to exported_job), and the Pushgateway groups by job=batchcast; with `batchcast_job` the
// same PromQL works on both sources.
import client from 'prom-client';
import type { JobFigures } from '../store/job-figures.ts';
import { RUN_STATUSES } from '../store/tables.ts';

type Series = [labels: Record<string, string>, value: number][];

interface Definition {
  name: string;
  help: string;
  /** extra labels besides batchcast_job */
  labels?: string[];
  values(f: JobFigures): number | null | undefined | Series;
}

export const LAST_SUCCESS = 'batchcast_job_last_success_timestamp_seconds';

const definitions: Definition[] = [
  {
    name: LAST_SUCCESS,
    help: 'When the latest successful (published) run of the job finished, Unix seconds',
    values: (f) => f.lastSuccessSeconds,
  },
  {
    name: 'batchcast_job_last_run_timestamp_seconds',
    help: 'When the latest finished run of the job ended, whatever its outcome, Unix seconds',
    values: (f) => f.lastRun?.finishedSeconds,
  },
  {
    name: 'batchcast_job_last_run_duration_seconds',
    help: 'Wall time of the latest finished run, start to end',
    values: (f) => f.lastRun?.durationSeconds,
  },
  { name: 'batchcast_job_last_run_rows', help: 'Users written by the latest finished run', values: (f) => f.lastRun?.rows },
  { name: 'batchcast_job_last_run_id', help: 'Run id of the latest finished run', values: (f) => f.lastRun?.runId },
  {
    name: 'batchcast_job_last_run_status',
    help: '1 for the status of the latest finished run (succeeded, failed or held), 0 for the others',
    labels: ['status'],
    values: (f) =>
      f.lastRun
        ? (['succeeded', 'failed', 'held'] as const).map((s): Series[number] => [{ status: s }, f.lastRun!.status === s ? 1 : 0])
        : null,
  },
  {
    name: 'batchcast_job_runs',
    help: 'Runs of the job in the ledger, by status (held and failed: runs that did not publish; waiting: dates waiting for their files)',
    labels: ['status'],
    values: (f) => RUN_STATUSES.map((s): Series[number] => [{ status: s }, f.runs[s] ?? 0]),
  },
  {
    name: 'batchcast_job_compared_run_id',
    help: 'Run id whose comparison with its reference the drift figures come from',
    values: (f) => f.drift?.runId,
  },
  {
    name: 'batchcast_job_drifted_feature_share',
    help: 'Share of features whose PSI is over the drift threshold, latest comparison',
    values: (f) => f.drift?.driftedFeatureShare,
  },
  { name: 'batchcast_job_max_feature_psi', help: 'Largest per-feature PSI, latest comparison', values: (f) => f.drift?.maxFeaturePsi },
  {
    name: 'batchcast_job_overlap_at_k',
    help: 'Mean overlap@K of the top-K lists with the reference, latest comparison',
    values: (f) => f.drift?.overlapAtK,
  },
  {
    name: 'batchcast_job_rank_biased_overlap',
    help: 'Mean rank-biased overlap (p = 0.9) with the reference, latest comparison',
    values: (f) => f.drift?.rbo,
  },
  {
    name: 'batchcast_job_item_js_distance',
    help: 'Jensen-Shannon distance between the item-popularity distributions, latest comparison',
    values: (f) => f.drift?.itemJsDistance,
  },
  { name: 'batchcast_job_users_ratio', help: 'Users now / users in the reference, latest comparison', values: (f) => f.drift?.usersRatio },
];

function setFigures(gauge: client.Gauge<string>, def: Definition, figures: JobFigures[]): void {
  gauge.reset();
  for (const f of figures) {
    const v = def.values(f);
    if (v === null || v === undefined) continue; // no value: no series, rather than a misleading 0
    if (typeof v === 'number') gauge.set({ batchcast_job: f.job }, v);
    else for (const [labels, x] of v) gauge.set({ batchcast_job: f.job, ...labels }, x);
  }
}

/** Gauges holding `figures`, for a push. Without `lastSuccess` the last-success gauge is left out. */
export function jobGauges(registry: client.Registry, figures: JobFigures[], opts: { lastSuccess: boolean }): void {
  for (const def of definitions) {
    if (def.name === LAST_SUCCESS && !opts.lastSuccess) continue;
    const gauge = new client.Gauge({
      name: def.name,
      help: def.help,
      labelNames: ['batchcast_job', ...(def.labels ?? [])],
      registers: [registry],
    });
    setFigures(gauge, def, figures);
  }
}

/**
 * Gauges filled at scrape time: every gauge awaits the same load, and a load is reused for `cacheMs`,
 * so one scrape costs the two ledger statements once, and a burst of scrapes (two Prometheus replicas)
 * costs them once too. A failed load gives no job series and batchcast_job_metrics_up 0, never stale values.
 */
export function collectJobMetrics(registry: client.Registry, load: () => Promise<JobFigures[]>, cacheMs = 5_000): void {
  let cached: { at: number; figures: Promise<JobFigures[] | undefined> } | undefined;
  const figures = () => {
    const now = performance.now();
    if (!cached || now - cached.at > cacheMs) cached = { at: now, figures: load().catch(() => undefined) };
    return cached.figures;
  };
  new client.Gauge({
    name: 'batchcast_job_metrics_up',
    help: '1 when the job metrics were read from the ledger at this scrape, 0 when the read failed',
    registers: [registry],
    async collect() {
      this.set((await figures()) ? 1 : 0);
    },
  });
  for (const def of definitions) {
    new client.Gauge({
      name: def.name,
      help: def.help,
      labelNames: ['batchcast_job', ...(def.labels ?? [])],
      registers: [registry],
      async collect() {
        setFigures(this, def, (await figures()) ?? []);
      },
    });
  }
}
