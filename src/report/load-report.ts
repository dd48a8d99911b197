// What `batchcast report` shows, read from the ledger: the run, its profiles, its comparison with the
// reference and its gate verdicts (the guardrails' records, src/store/profiles.ts).
import { parseDate } from '../dates.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { getRun, newestRunId } from '../store/ledger.ts';
import { migrate } from '../store/migrate.ts';
import { isPublished, publishedRunId } from '../store/pointer.ts';
import {
  type Comparison,
  type GateVerdict,
  type InputProfile,
  loadComparison,
  loadProfiles,
  loadVerdicts,
  type OutputProfile,
} from '../store/profiles.ts';
import type { Queryable } from '../store/queryable.ts';

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
  /** the run it was compared with, and that run's profiles (for the shared-axis charts and the bars by value) */
  reference: { run: RunSummary; outputs: OutputProfile | null; inputs: InputProfile | null } | null;
  comparison: Comparison | null;
  verdicts: GateVerdict[];
}

/** --run R, or --job J --date D (the run published for D, else the newest run of D). */
export interface ReportRequest {
  run?: number;
  job?: string;
  date?: string;
  reference?: number;
}

interface RunRecord {
  run_id: number;
  job: string;
  prediction_date: string;
  status: string;
  published: boolean;
  model_version: string | null;
  rows_read: number;
  rows_written: number;
  timings: Record<string, number>;
  started_at: Date;
  inputs: InputProfile | null;
  outputs: OutputProfile | null;
}

async function readRun(db: Queryable, runId: number): Promise<RunRecord | undefined> {
  const run = await getRun(db, runId);
  if (!run) return undefined;
  const profiles = await loadProfiles(db, runId);
  return { ...run, published: await isPublished(db, runId), inputs: profiles?.inputs ?? null, outputs: profiles?.outputs ?? null };
}

function summary(r: RunRecord): RunSummary {
  return {
    runId: r.run_id,
    job: r.job,
    date: r.prediction_date,
    status: r.status,
    published: r.published,
    modelVersion: r.model_version,
    rowsRead: r.rows_read,
    rowsWritten: r.rows_written,
    seconds: r.timings?.total !== undefined ? r.timings.total / 1000 : null,
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
  const runId = (await publishedRunId(db, req.job, date)) ?? (await newestRunId(db, req.job, date));
  if (runId === undefined) {
    throw new BadInputError(`job ${req.job}, date ${date} has no run; list runs with: batchcast runs --job ${req.job}`);
  }
  return runId;
}

export async function loadReport(db: Db, req: ReportRequest): Promise<Report> {
  await migrate(db.pool);
  const runId = await resolveReportRun(db.pool, req);
  const run = await readRun(db.pool, runId);
  if (!run) throw new BadInputError(`run ${runId} does not exist; list runs with: batchcast runs`);
  // A run may have been compared with several runs (batchcast compare); the report shows the comparison
  // with the reference its own profile was binned on (the generation it would replace), unless asked.
  const comparison = await loadComparison(db.pool, runId, {
    referenceRunId: req.reference,
    profiledAgainst: run.inputs?.referenceRunId ?? null,
  });
  if (req.reference !== undefined && !comparison) {
    throw new BadInputError(
      `run ${runId} was never compared with run ${req.reference}; compare them with: batchcast compare --run ${runId} --run ${req.reference}`,
    );
  }
  const referenceId = comparison?.referenceRunId ?? run.inputs?.referenceRunId ?? null;
  const ref = referenceId === null ? undefined : await readRun(db.pool, referenceId);
  return {
    run: summary(run),
    inputs: run.inputs,
    outputs: run.outputs,
    reference: ref ? { run: summary(ref), outputs: ref.outputs, inputs: ref.inputs } : null,
    comparison,
    verdicts: await loadVerdicts(db.pool, runId),
  };
}
