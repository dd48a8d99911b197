// Per-job batch metrics in Prometheus' conventions for batch jobs (last success time, last run's duration
// and rows, outcomes), plus the drift figures of the latest comparison. Read from the ledger, so `serve`'s
// /metrics and a Pushgateway push (push-metrics.ts) show the same numbers from the same two queries.
//
// The job is the label `batchcast_job`, not `job`: Prometheus sets `job` to the scrape target's name (and
// renames ours to exported_job), and the Pushgateway groups by job=batchcast; with `batchcast_job` the
// same PromQL works on both sources.
import type pg from 'pg';
import client from 'prom-client';
import type { Comparison } from '../guard/types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Every status a run can have (sql/004_guardrails.sql). */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'held', 'shadow'] as const;

export interface DriftFigures {
  runId: number;
  referenceRunId: number;
  driftedFeatureShare: number;
  maxFeaturePsi: number | null;
  overlapAtK: number;
  rbo: number;
  itemJsDistance: number;
  usersRatio: number;
}

export interface JobFigures {
  job: string;
  /** Unix seconds: when the latest succeeded (published) run finished */
  lastSuccessSeconds: number | null;
  /** the latest finished run that is not a shadow run */
  lastRun: { runId: number; status: string; finishedSeconds: number; durationSeconds: number; rows: number } | null;
  /** runs in the ledger, by status */
  runs: Record<string, number>;
  /** the latest comparison of a non-shadow run with its reference; null when there is none (or no access) */
  drift: DriftFigures | null;
}

export interface ReadOptions {
  /** only this job */
  job?: string;
  /** called when the comparison table cannot be read (no SELECT grant, or not migrated yet) */
  onDriftUnavailable?: (reason: string) => void;
}

interface LedgerRow {
  job: string; last_success: number | null; counts: Record<string, number>;
  run_id: number | null; status: string | null; finished: number | null; duration: number | null; rows: number | null;
}

/** The figures of every job in the ledger (or one), in two statements whatever the number of jobs. */
export async function readJobFigures(db: Queryable, opts: ReadOptions = {}): Promise<JobFigures[]> {
  const job = opts.job ?? null;
  // Shadow runs are experiments on the side (predict --shadow): they neither succeed nor fail the job.
  // Counts need the whole ledger (one pass: 3.5 ms for 33k runs); the latest run per job is a backward walk
  // of the primary key per job that stops at the first match, instead of a sort of every run per scrape.
  const { rows } = await db.query<LedgerRow>(
    `with by_status as (
       select job, status, count(*)::int as n, max(finished_at) filter (where status = 'succeeded') as last_success
         from batchcast.runs where ($1::text is null or job = $1) group by job, status),
     per_job as (
       select job, extract(epoch from max(last_success))::float8 as last_success, jsonb_object_agg(status, n) as counts
         from by_status group by job)
     select p.job, p.last_success, p.counts, l.run_id, l.status, l.finished, l.duration, l.rows
       from per_job p
       left join lateral (
         select run_id, status, extract(epoch from finished_at)::float8 as finished,
                extract(epoch from finished_at - started_at)::float8 as duration, rows_written as rows
           from batchcast.runs r
          where r.job = p.job and status not in ('running', 'shadow') and finished_at is not null
          order by run_id desc limit 1) l on true
      order by p.job`,
    [job],
  );
  const drift = await readDrift(db, job, opts.onDriftUnavailable);
  return rows.map((r) => ({
    job: r.job,
    lastSuccessSeconds: r.last_success,
    lastRun: r.run_id === null ? null : { runId: r.run_id, status: r.status!, finishedSeconds: r.finished!, durationSeconds: r.duration!, rows: r.rows! },
    runs: Object.fromEntries(RUN_STATUSES.map((s) => [s, r.counts[s] ?? 0])),
    drift: drift.get(r.job) ?? null,
  }));
}

async function readDrift(db: Queryable, job: string | null, onUnavailable?: (reason: string) => void): Promise<Map<string, DriftFigures>> {
  let rows: { job: string; run_id: number; reference_run_id: number; comparison: Comparison }[];
  try {
    // A run compared with several runs (batchcast compare) counts with the reference it was profiled
    // against: the generation it would replace.
    // Per job, the newest compared run: a backward walk of run_comparisons' primary key that stops at the
    // first match, instead of sorting every comparison (and its jsonb) at each scrape. Both statements:
    // 39 against 267 ms with the sorts, 10 jobs, 33k runs, 11k comparisons (bench/README.md).
    ({ rows } = await db.query(
      `select j.job, c.run_id, c.reference_run_id, c.comparison
         from (select distinct job from batchcast.runs where ($1::text is null or job = $1)) j
         cross join lateral (
           select c.run_id, c.reference_run_id, c.comparison
             from batchcast.run_comparisons c
             join batchcast.runs r on r.run_id = c.run_id
             left join batchcast.run_profiles p on p.run_id = c.run_id
            where r.job = j.job and r.status <> 'shadow'
            order by c.run_id desc, (c.reference_run_id = (p.inputs ->> 'referenceRunId')::bigint) desc nulls last, c.created_at
            limit 1) c`,
      [job],
    ));
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 42501: the read-only lookup role has no SELECT on the guard tables; 42P01: not migrated to 004 yet.
    if (code !== '42501' && code !== '42P01') throw err;
    onUnavailable?.((err as Error).message);
    return new Map();
  }
  return new Map(rows.map((r) => {
    const c = r.comparison;
    const psi = c.psi.map((p) => p.psi).filter(Number.isFinite);
    return [r.job, {
      runId: r.run_id, referenceRunId: r.reference_run_id, driftedFeatureShare: c.driftedFeatureShare,
      maxFeaturePsi: psi.length ? Math.max(...psi) : null, overlapAtK: c.meanOverlapAtK, rbo: c.meanRbo,
      itemJsDistance: c.itemJsDistance, usersRatio: c.usersRatio,
    }];
  }));
}

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
  { name: LAST_SUCCESS, help: 'When the latest successful (published) run of the job finished, Unix seconds', values: (f) => f.lastSuccessSeconds },
  { name: 'batchcast_job_last_run_timestamp_seconds', help: 'When the latest finished run of the job ended, whatever its outcome, Unix seconds', values: (f) => f.lastRun?.finishedSeconds },
  { name: 'batchcast_job_last_run_duration_seconds', help: 'Wall time of the latest finished run, start to end', values: (f) => f.lastRun?.durationSeconds },
  { name: 'batchcast_job_last_run_rows', help: 'Users written by the latest finished run', values: (f) => f.lastRun?.rows },
  { name: 'batchcast_job_last_run_id', help: 'Run id of the latest finished run', values: (f) => f.lastRun?.runId },
  {
    name: 'batchcast_job_last_run_status', help: '1 for the status of the latest finished run (succeeded, failed or held), 0 for the others', labels: ['status'],
    values: (f) => (f.lastRun ? (['succeeded', 'failed', 'held'] as const).map((s): Series[number] => [{ status: s }, f.lastRun!.status === s ? 1 : 0]) : null),
  },
  {
    name: 'batchcast_job_runs', help: 'Runs of the job in the ledger, by status (held and failed: runs that did not publish)', labels: ['status'],
    values: (f) => RUN_STATUSES.map((s): Series[number] => [{ status: s }, f.runs[s] ?? 0]),
  },
  { name: 'batchcast_job_compared_run_id', help: 'Run id whose comparison with its reference the drift figures come from', values: (f) => f.drift?.runId },
  { name: 'batchcast_job_drifted_feature_share', help: 'Share of features whose PSI is over the drift threshold, latest comparison', values: (f) => f.drift?.driftedFeatureShare },
  { name: 'batchcast_job_max_feature_psi', help: 'Largest per-feature PSI, latest comparison', values: (f) => f.drift?.maxFeaturePsi },
  { name: 'batchcast_job_overlap_at_k', help: 'Mean overlap@K of the top-K lists with the reference, latest comparison', values: (f) => f.drift?.overlapAtK },
  { name: 'batchcast_job_rank_biased_overlap', help: 'Mean rank-biased overlap (p = 0.9) with the reference, latest comparison', values: (f) => f.drift?.rbo },
  { name: 'batchcast_job_item_js_distance', help: 'Jensen-Shannon distance between the item-popularity distributions, latest comparison', values: (f) => f.drift?.itemJsDistance },
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
    const gauge = new client.Gauge({ name: def.name, help: def.help, labelNames: ['batchcast_job', ...(def.labels ?? [])], registers: [registry] });
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
    name: 'batchcast_job_metrics_up', help: '1 when the job metrics were read from the ledger at this scrape, 0 when the read failed', registers: [registry],
    async collect() { this.set((await figures()) ? 1 : 0); },
  });
  for (const def of definitions) {
    new client.Gauge({
      name: def.name, help: def.help, labelNames: ['batchcast_job', ...(def.labels ?? [])], registers: [registry],
      async collect() { setFigures(this, def, (await figures()) ?? []); },
    });
  }
}
