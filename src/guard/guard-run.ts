// The guard stage of a run, between attach and publish: profile what went in and what came out, compare it
// with the generation it would replace, and judge it by the job's gates. Everything it finds is stored
// (run_profiles, run_comparisons, gate_verdicts) whatever the verdict, so a held run can be reviewed.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.ts';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { compareRuns } from './compare-runs.ts';
import { evaluateGates, heldLine, type GateResult } from './gates.ts';
import { profileInputs } from './profile-inputs.ts';
import { profileOutputs } from './profile-outputs.ts';
import { findReference, loadProfiles, saveComparison, saveProfiles, saveVerdicts } from './stored-profiles.ts';
import type { Comparison } from './types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface GuardRequest {
  job: JobDefinition;
  date: string;
  runId: number;
  config: Pick<Config, 'duckdbMemoryLimit' | 'duckdb'>;
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
  /** milliseconds per part: inputs (DuckDB pass), outputs (SQL on the sample), compare, store */
  ms: Record<'inputs' | 'outputs' | 'compare', number>;
}

export async function guardRun(db: Queryable, r: GuardRequest): Promise<GuardResult> {
  const found = await findReference(db, r.job.name, r.date);
  // A reference published before the guardrails existed has no profile: then only value gates apply.
  const ref = found === null || found.runId === r.runId ? null : await loadProfiles(db, found.runId);
  const referenceRunId = ref ? found!.runId : null;
  // Both cores: inference is over by now. One aggregate pass over the partition (profile-inputs.ts).
  let t = performance.now();
  const ms = { inputs: 0, outputs: 0, compare: 0 };
  const lap = (part: keyof typeof ms) => { ms[part] = Math.round(performance.now() - t); t = performance.now(); };
  // The same DuckDB settings as the run's own read (extensions: features may live in object storage).
  const inputs = await withDuckDB({ threads: 2, memoryLimit: r.config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'), ...r.config.duckdb },
    (conn) => profileInputs(conn, r.job, r.files, ref?.inputs ?? null, referenceRunId, { rows: r.rowsRead, allFinite: r.rowsRead === r.rowsWritten }));
  lap('inputs');
  const outputs = await profileOutputs(db, { runId: r.runId, k: r.job.k, rowsRead: r.rowsRead, usersScored: r.rowsWritten, itemIds: r.itemIds, itemCounts: r.itemCounts });
  await saveProfiles(db, r.runId, inputs, outputs);
  lap('outputs');
  const comparison = ref ? await compareRuns(db, { runId: r.runId, inputs, outputs }, ref, r.job.gates.psiDriftThreshold) : null;
  if (comparison) await saveComparison(db, comparison);
  lap('compare');
  const verdicts = evaluateGates(r.job.gates, { inputs, outputs, reference: ref && comparison ? { inputs: ref.inputs, comparison, date: found!.date, sameDate: found!.date === r.date } : null });
  await saveVerdicts(db, r.runId, verdicts);
  const failed = verdicts.filter((v) => !v.passed);
  const line = failed.length ? heldLine({ job: r.job.name, date: r.date, runId: r.runId, shadow: !!r.shadow, failed }) : undefined;
  return { referenceRunId, comparison, verdicts, failed, line, ms };
}

/** The job with a candidate model file (predict --shadow --model): its version is then the file's hash, not the job's. */
export function withCandidateModel(job: JobDefinition, o: { shadow?: boolean; modelPath?: string }): JobDefinition {
  if (!o.modelPath) return job;
  if (!o.shadow) throw new BadInputError(`--model ${o.modelPath}: a candidate model only runs in shadow; add --shadow (promote the result with batchcast publish --run R)`);
  const file = path.resolve(o.modelPath);
  if (!existsSync(file)) throw new BadInputError(`--model ${o.modelPath}: file ${file} not found`);
  return Object.freeze({ ...job, model: { ...job.model, path: file, version: undefined, card: undefined } });
}
