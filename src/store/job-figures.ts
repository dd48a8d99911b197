// What the job metrics say, read from the ledger in two statements whatever the number of jobs: per job, the
// last success, the last finished run, run counts by status, and the drift figures of the latest comparison.
// `serve`'s /metrics and a Pushgateway push (src/metrics/) render the same figures from here.
import type { Comparison } from './profiles.ts';
import type { Queryable } from './queryable.ts';
import { RUN_STATUSES } from './tables.ts';

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
  job: string;
  last_success: number | null;
  counts: Record<string, number>;
  run_id: number | null;
  status: string | null;
  finished: number | null;
  duration: number | null;
  rows: number | null;
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
    lastRun:
      r.run_id === null
        ? null
        : { runId: r.run_id, status: r.status!, finishedSeconds: r.finished!, durationSeconds: r.duration!, rows: r.rows! },
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
  return new Map(
    rows.map((r) => {
      const c = r.comparison;
      const psi = c.psi.map((p) => p.psi).filter(Number.isFinite);
      return [
        r.job,
        {
          runId: r.run_id,
          referenceRunId: r.reference_run_id,
          driftedFeatureShare: c.driftedFeatureShare,
          maxFeaturePsi: psi.length ? Math.max(...psi) : null,
          overlapAtK: c.meanOverlapAtK,
          rbo: c.meanRbo,
          itemJsDistance: c.itemJsDistance,
          usersRatio: c.usersRatio,
        },
      ];
    }),
  );
}
