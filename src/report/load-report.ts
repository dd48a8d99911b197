// What `batchcast report` shows, read from the ledger: the run, its profiles, its comparison with the
// reference and its gate verdicts (tables of sql/004_guardrails.sql, shapes in src/guard/types.ts).
import type pg from 'pg';
import type { Db } from '../db/connect.ts';
import { migrate } from '../store/migrate.ts';
import { BadInputError } from '../errors.ts';
import { parseDate } from '../dates.ts';
import type { Comparison, GateVerdict, InputProfile, OutputProfile } from '../guard/types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface RunSummary {
  runId: number;
  job: string;
  date: string;
  status: string;
  published: boolean;
  modelVersion: string | null;
  rowsRead: number;
  rowsWritten: number;
  /** timings.total, when the run recorded it */
  seconds: number | null;
  startedAt: string;
}

export interface Report {
  run: RunSummary;
  /** null when the run has no profile (it failed before profiling, or ran before profiles existed) */
  inputs: InputProfile | null;
  outputs: OutputProfile | null;
  /** the run it was compared with, and that run's outputs (for the shared-axis charts) */
  reference: { run: RunSummary; outputs: OutputProfile | null } | null;
  comparison: Comparison | null;
  verdicts: GateVerdict[];
}

/** --run R, or --job J --date D (the run published for D, else the newest run of D). */
export interface ReportRequest { run?: number; job?: string; date?: string; reference?: number }

interface RunRecord {
  run_id: number; job: string; prediction_date: string; status: string; published: boolean; model_version: string | null;
  rows_read: number; rows_written: number; timings: Record<string, number>; started_at: Date;
  inputs: InputProfile | null; outputs: OutputProfile | null;
}

async function readRun(db: Queryable, runId: number): Promise<RunRecord | undefined> {
  const { rows } = await db.query<RunRecord>(
    `select r.run_id, r.job, r.prediction_date, r.status, (p.run_id is not null) as published, r.model_version,
            r.rows_read, r.rows_written, r.timings, r.started_at, rp.inputs, rp.outputs
       from batchcast.runs r
       left join batchcast.published p on p.run_id = r.run_id
       left join batchcast.run_profiles rp on rp.run_id = r.run_id
      where r.run_id = $1`,
    [runId],
  );
  return rows[0];
}

function summary(r: RunRecord): RunSummary {
  return {
    runId: r.run_id, job: r.job, date: r.prediction_date, status: r.status, published: r.published, modelVersion: r.model_version,
    rowsRead: r.rows_read, rowsWritten: r.rows_written, seconds: r.timings?.total !== undefined ? r.timings.total / 1000 : null,
    startedAt: r.started_at.toISOString(),
  };
}

/** The run a report is about; the error says which flags to give and how to find a run. */
export async function resolveReportRun(db: Queryable, req: ReportRequest): Promise<number> {
  if (req.run !== undefined) {
    if (req.job !== undefined || req.date !== undefined) throw new BadInputError('give either --run R or --job J --date D, not both');
    return req.run;
  }
  if (req.job === undefined || req.date === undefined) throw new BadInputError('say which run to report on: --run R, or --job J --date D');
  const date = parseDate(req.date, '--date');
  const { rows } = await db.query<{ run_id: number | null }>(
    `select coalesce((select run_id from batchcast.published where job = $1 and prediction_date = $2),
                     (select max(run_id) from batchcast.runs where job = $1 and prediction_date = $2)) as run_id`,
    [req.job, date],
  );
  if (rows[0].run_id === null) {
    throw new BadInputError(`job ${req.job}, date ${date} has no run; list runs with: batchcast runs --job ${req.job}`);
  }
  return rows[0].run_id;
}

export async function loadReport(db: Db, req: ReportRequest): Promise<Report> {
  await migrate(db.pool);
  const runId = await resolveReportRun(db.pool, req);
  const run = await readRun(db.pool, runId);
  if (!run) throw new BadInputError(`run ${runId} does not exist; list runs with: batchcast runs`);
  // A run may have been compared with several runs (batchcast compare); the report shows the comparison
  // with the reference its own profile was binned on (the generation it would replace), unless asked.
  const wanted = req.reference ?? run.inputs?.referenceRunId ?? null;
  const { rows: comparisons } = await db.pool.query<{ reference_run_id: number; comparison: Comparison }>(
    `select reference_run_id, comparison from batchcast.run_comparisons
      where run_id = $1 and ($2::bigint is null or reference_run_id = $2 or $3)
      order by (reference_run_id = $2) desc nulls last, created_at limit 1`,
    [runId, wanted, req.reference === undefined],
  );
  if (req.reference !== undefined && !comparisons.length) {
    throw new BadInputError(`run ${runId} was never compared with run ${req.reference}; compare them with: batchcast compare --run ${runId} --run ${req.reference}`);
  }
  const referenceId = comparisons[0]?.reference_run_id ?? run.inputs?.referenceRunId ?? null;
  const ref = referenceId === null ? undefined : await readRun(db.pool, referenceId);
  const { rows: verdicts } = await db.pool.query<GateVerdict>(
    `select gate, kind, value, threshold, passed from batchcast.gate_verdicts where run_id = $1
      order by passed, kind desc, gate`,
    [runId],
  );
  return {
    run: summary(run),
    inputs: run.inputs,
    outputs: run.outputs,
    reference: ref ? { run: summary(ref), outputs: ref.outputs } : null,
    comparison: comparisons[0]?.comparison ?? null,
    verdicts,
  };
}
