// batchcast compare --run A --run B: any two runs that still have their tables and profiles. A was counted on
// the bins of the run it would replace; when B is another run, A's input files are read again (its sample)
// and counted on B's bins, so the PSI is exact; when they are gone, the comparison says it is estimated.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { type JobDefinition, loadJob } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { getRun, type RunRow } from '../store/ledger.ts';
import { migrate } from '../store/migrate.ts';
import type { Comparison, RunProfiles } from '../store/profiles.ts';
import { loadProfiles, saveComparison } from '../store/profiles.ts';
import { compareRuns } from './compare-runs.ts';
import { profileInputs } from './profile-inputs.ts';

const DEFAULT_DRIFT = 0.25;

async function usableRun(db: Db, runId: number): Promise<{ run: RunRow; profiles: RunProfiles }> {
  const run = await getRun(db.pool, runId);
  if (!run) throw new BadInputError(`run ${runId} does not exist; list runs with: batchcast runs`);
  const where = `run ${runId} (job ${run.job}, date ${run.prediction_date}, ${run.status})`;
  if (run.pruned_at) throw new BadInputError(`${where} was pruned; its rows are gone, so it cannot be compared`);
  const profiles = await loadProfiles(db.pool, runId);
  if (!profiles)
    throw new BadInputError(
      `${where} has no profile (it ${run.status === 'failed' ? 'failed' : 'ran before the guardrails existed'}); rerun its date to compare it`,
    );
  return { run, profiles };
}

/** Compares run A with run B (B as the reference) and stores the comparison in batchcast.run_comparisons. */
export async function compareGenerations(db: Db, config: Config, a: number, b: number): Promise<Comparison> {
  if (a === b) throw new BadInputError(`--run ${a} --run ${b}: give two different runs`);
  await migrate(db.pool);
  const now = await usableRun(db, a);
  const ref = await usableRun(db, b);
  let job: JobDefinition | undefined;
  try {
    job = loadJob(config.jobsDir, now.run.job, config.root);
  } catch {
    // the job file may be gone; the comparison needs only the stored profiles (PSI then estimated)
  }
  const files = now.run.input_files;
  if (job && now.profiles.inputs.referenceRunId !== b && files.length && files.every((f) => existsSync(f))) {
    const inputs = await withDuckDB(
      { threads: 2, memoryLimit: config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'), ...config.duckdb },
      (conn) =>
        profileInputs(conn, job, files, ref.profiles.inputs, b, { rows: now.run.rows_read, allFinite: false }, config.driftDiscreteValues),
    );
    now.profiles = { ...now.profiles, inputs };
  }
  const comparison = await compareRuns(db.pool, now.profiles, ref.profiles, job?.gates.psiDriftThreshold ?? DEFAULT_DRIFT);
  await saveComparison(db.pool, comparison);
  return comparison;
}
