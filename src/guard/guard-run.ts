// The guard stage of a run, between attach and publish: profile what went in and what came out, compare it
// with the generation it would replace, and judge it by the job's gates. Everything it finds is stored
// (run_profiles, run_comparisons, gate_verdicts) whatever the verdict, so a held run can be reviewed.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/load-config.ts';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { findReference, type Reference } from '../store/pointer.ts';
import type { Comparison, InputProfile, RunProfiles } from '../store/profiles.ts';
import { loadProfiles, saveComparison, saveProfiles, saveVerdicts } from '../store/profiles.ts';
import type { Queryable } from '../store/queryable.ts';
import { checkExpectations } from './check-expectations.ts';
import { compareRuns, withTop1 } from './compare-runs.ts';
import { causesFirst, evaluateGates, type GateResult, heldLine } from './gates.ts';
import { profileInputs } from './profile-inputs.ts';
import { outputCounts, profileOutputs } from './profile-outputs.ts';

export interface GuardRequest {
  job: JobDefinition;
  date: string;
  runId: number;
  config: Pick<Config, 'duckdbMemoryLimit' | 'duckdb' | 'driftDiscreteValues'>;
  files: string[];
  rowsRead: number;
  rowsWritten: number;
  itemIds: string[];
  itemCounts: ArrayLike<number>;
  /** a shadow run: judged the same way, never published */
  shadow?: boolean;
}

export interface GuardResult {
  referenceRunId: number | null;
  comparison: Comparison | null;
  verdicts: GateResult[];
  failed: GateResult[];
  /** the one line naming the first failed gate and the command that publishes anyway; undefined when all passed */
  line: string | undefined;
  /**
   * milliseconds per part: inputs (waiting for the DuckDB pass, once the run reached the guard), outputs (SQL on
   * the sample) and compare, which run at once (each from the same start); inputsTotal: the whole DuckDB pass,
   * most of it during the index build when started early
   */
  ms: Record<'inputs' | 'outputs' | 'compare' | 'inputsTotal', number>;
}

/** The guard's first part: the reference, and the input profile (DuckDB, from the files alone). */
export interface GuardStart {
  found: Reference | null;
  ref: RunProfiles | null;
  inputs: InputProfile;
  /** the job's expectations on the date's inputs, judged (check-expectations.ts); [] when it has none */
  expectations: GateResult[];
  inputsMs: number;
}

/**
 * Starts the first part of the guard. It needs nothing the write produces, so predict starts it before the
 * index build, which keeps one core busy in PostgreSQL and leaves the other to DuckDB (bench/README.md,
 * "Guardrails cost"). Awaited by guardRun; a run that fails before then leaves it to settle unobserved.
 */
export function startGuard(
  db: Queryable,
  r: Pick<GuardRequest, 'job' | 'date' | 'runId' | 'config' | 'files' | 'rowsRead' | 'rowsWritten'>,
): Promise<GuardStart> {
  const t = performance.now();
  const started = (async () => {
    const found = await findReference(db, r.job.name, r.date);
    // A reference published before the guardrails existed has no profile: then only value gates apply.
    const ref = found === null || found.runId === r.runId ? null : await loadProfiles(db, found.runId);
    // The same DuckDB settings as the run's own read (extensions: features may live in object storage).
    const [inputs, expectations] = await withDuckDB(
      {
        threads: 2,
        memoryLimit: r.config.duckdbMemoryLimit,
        tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'),
        ...r.config.duckdb,
      },
      async (conn) =>
        [
          await profileInputs(
            conn,
            r.job,
            r.files,
            ref?.inputs ?? null,
            ref ? found!.runId : null,
            { rows: r.rowsRead, allFinite: r.rowsRead === r.rowsWritten },
            r.config.driftDiscreteValues,
          ),
          await checkExpectations(conn, r.job, r.date, r.files),
        ] as const,
    );
    return { found, ref, inputs, expectations, inputsMs: Math.round(performance.now() - t) };
  })();
  started.catch(() => {});
  return started;
}

export async function guardRun(db: Queryable, r: GuardRequest, start: Promise<GuardStart> = startGuard(db, r)): Promise<GuardResult> {
  const t = performance.now();
  const { found, ref, inputs, expectations, inputsMs } = await start;
  const referenceRunId = ref ? found!.runId : null;
  // inputs: the part of the DuckDB pass not hidden behind the index build (all of it when not started early)
  const ms = { inputs: Math.round(performance.now() - t), outputs: 0, compare: 0, inputsTotal: inputsMs };
  const t0 = performance.now();
  // outputs: until the percentiles are stored; compare: until the comparison is stored (the two overlap)
  const lap = (part: 'outputs') => {
    ms[part] = Math.round(performance.now() - t0);
  };
  const facts = {
    runId: r.runId,
    k: r.job.k,
    rowsRead: r.rowsRead,
    usersScored: r.rowsWritten,
    itemIds: r.itemIds,
    itemCounts: r.itemCounts,
  };
  // Two statements at once, on two of the pool's connections (two cores): the score percentiles, and the
  // per-user agreement with the reference, which needs only the counts (outputCounts), not the percentiles.
  const [outputs, comparison] = await Promise.all([
    profileOutputs(db, facts, ref?.outputs ?? null).then(async (o) => {
      await saveProfiles(db, r.runId, inputs, o);
      lap('outputs');
      return o;
    }),
    ref ? compareRuns(db, { runId: r.runId, inputs, outputs: outputCounts(facts) }, ref, r.job.gates.psiDriftThreshold) : null,
  ]);
  // the rank-1 score's counts on the reference's bins came with the outputs, which ran beside the comparison
  if (comparison && ref) Object.assign(comparison, withTop1({ runId: r.runId, inputs, outputs }, ref));
  if (comparison) await saveComparison(db, comparison);
  ms.compare = Math.round(performance.now() - t0);
  const verdicts = [
    ...expectations,
    ...evaluateGates(r.job.gates, {
      inputs,
      outputs,
      reference: ref && comparison ? { inputs: ref.inputs, comparison, date: found!.date, sameDate: found!.date === r.date } : null,
    }),
  ];
  await saveVerdicts(db, r.runId, verdicts);
  const failed = causesFirst(verdicts.filter((v) => !v.passed));
  const line = failed.length ? heldLine({ job: r.job.name, date: r.date, runId: r.runId, shadow: !!r.shadow, failed }) : undefined;
  return { referenceRunId, comparison, verdicts, failed, line, ms };
}

/** The job with a candidate model file (predict --shadow --model): its version is then the file's hash, not the job's; the job's examples belong to its own model. */
export function withCandidateModel(job: JobDefinition, o: { shadow?: boolean; modelPath?: string }): JobDefinition {
  if (!o.modelPath) return job;
  if (!o.shadow)
    throw new BadInputError(
      `--model ${o.modelPath}: a candidate model only runs in shadow; add --shadow (promote the result with batchcast publish --run R)`,
    );
  const file = path.resolve(o.modelPath);
  if (!existsSync(file)) throw new BadInputError(`--model ${o.modelPath}: file ${file} not found`);
  return Object.freeze({ ...job, model: { ...job.model, path: file, version: undefined, card: undefined, examples: [] } });
}
