// A job is one JSON file in jobs/. It is validated here, at load, against the schema in job-schema.ts, and
// every error names the file and the field. Adding a job means adding a file: nothing in src/ knows job names.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { BadInputError } from '../errors.ts';
import { JOB_NAME, type JobFile, jobFileSchema } from './job-schema.ts';
import { cronProblem, timezoneProblem } from './schedule-checks.ts';

export type ModelOutput = { kind: 'scores'; name: string } | { kind: 'top_k'; values: string; indices: string };

/** One row of inputs (by column) and the outputs (by name) the training code computed for it. */
export interface ModelExample {
  inputs: Record<string, number | number[]>;
  outputs: Record<string, number[]>;
}

/** One model input: its name and the positions in features.columns it takes (undefined: every feature, in order). */
export interface ModelInput {
  name: string;
  columns: number[] | undefined;
}

export interface JobDefinition {
  name: string;
  file: string;
  description: string;
  features: {
    /** Glob over the hive-partitioned dataset, e.g. /abs/data/demo/features/dt=*\/*.parquet */
    path: string;
    partitionColumn: string;
    /** how the date is written in the folder name: dt=2026-11-20, or dt=20261120 */
    partitionFormat: 'YYYY-MM-DD' | 'YYYYMMDD';
    userIdColumn: string;
    /** Scalar float columns in model-input order; empty when listColumn is used. */
    columns: string[];
    /** One fixed-size list column holding all features. */
    listColumn: string | undefined;
    /** Number of model inputs per user. */
    size: number;
    /** Columns in the files that the job does not use are an error (schema drift) unless this is set. */
    allowExtraColumns: boolean;
  };
  model: {
    path: string;
    inputs: ModelInput[];
    output: ModelOutput;
    card: string | undefined;
    version: string | undefined;
    /** known input -> output rows the model must reproduce (src/infer/check-examples.ts); [] = none */
    examples: ModelExample[];
  };
  /** attributes: item columns kept with the recommendations (empty when the job names none) */
  /** attributes: columns of the items file the API returns with each item (?include=attributes); [] = none. */
  items: { path: string; idColumn: string; indexColumn: string | undefined; attributes: string[] };
  k: number;
  batchSize: number;
  minRows: number;
  badRows: { mode: 'reject' | 'skip'; maxBadFraction: number };
  fallback: boolean;
  schedule: JobSchedule | undefined;
  /** keep: generations per date; days: dates older than this are dropped; archive: path template before dropping */
  retention: {
    keep: number;
    /** Dates more than this many days older than the newest published date are dropped; undefined: never. */
    days?: number;
    /** Absolute Parquet path template with {job} and {date}: where a date's published run goes before it is dropped. */
    archive?: string;
  };
  /** Per-job overrides of the inference settings in config. */
  workers: number | undefined;
  intraOpThreads: number | undefined;
  /** thresholds a run must meet to be published (src/guard/gates.ts) */
  gates: JobGates;
  /** absolute checks on the date's inputs (src/guard/check-expectations.ts); empty when the job has none */
  expectations: JobExpectations;
}

export interface Bounds {
  min?: number;
  max?: number;
}

export interface ColumnExpectations {
  column: string;
  notNull: boolean;
  between: Bounds | undefined;
  acceptedValues: (string | number)[] | undefined;
  maxNullShare: number | undefined;
}

export interface JobExpectations {
  rowCount: Bounds | undefined;
  columns: ColumnExpectations[];
}

export interface JobSchedule {
  cron: string;
  timezone: string;
  catchupDays: number;
  /** the first date the scheduler runs; undefined: the earliest date with data, else the job's first run */
  startDate: string | undefined;
  /** wait for a date's files instead of failing it (undefined: fail at once) */
  waitForData: { timeoutSeconds: number; pollSeconds: number } | undefined;
}

/** Thresholds for a run to be published. Value gates judge the run alone; change gates judge it against its reference. */
export interface JobGates {
  enabled: boolean;
  // value gates
  maxTopItemShare: number | null;
  /** undefined = the default, min(1, 2k / items): fewer than 2K distinct items for all users is "the same for everyone" */
  minCatalogCoverage: number | null | undefined;
  minScoredRatio: number | null;
  // change gates
  maxFeaturePsi: number | null;
  psiDriftThreshold: number;
  maxDriftedFeatureShare: number | null;
  maxFeatureScaleRatio: number | null;
  /** features max_feature_scale_ratio leaves out */
  scaleRatioSkipFeatures: string[];
  maxNewConstantFeatures: number | null;
  minChangedFeatures: number | null;
  minOverlapAtK: number | null;
  minRbo: number | null;
  maxItemJsDistance: number | null;
  minUsersRatio: number | null;
  maxUsersRatio: number | null;
}

/** `a.b[1]`, the way a person would point at the field in the file. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** The first problem, as `job file F: field "a.b" <what is wrong and what to do>`. */
function describeIssues(file: string, error: z.ZodError): string {
  const [first] = error.issues;
  const path = first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]] : first.path;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return `job file ${file}: ${path.length ? `field "${fieldPath(path)}"` : 'the file'} ${first.message}${more}`;
}

/** The cron expression and time zone are checked here, so a scheduler never starts with one it cannot run. */
function checkSchedule(file: string, schedule: NonNullable<JobFile['schedule']>): void {
  const cron = cronProblem(schedule.cron);
  if (cron) throw new BadInputError(`job file ${file}: field "schedule.cron" ${cron}`);
  const timezone = timezoneProblem(schedule.timezone);
  if (timezone) throw new BadInputError(`job file ${file}: field "schedule.timezone" ${timezone}`);
}

/** model.input, or model.inputs with each input's columns as positions in features.columns. */
function modelInputs(file: string, j: JobFile, columns: string[]): ModelInput[] {
  const { input, inputs } = j.model;
  if (inputs === undefined) return [{ name: input ?? 'features', columns: undefined }];
  const bad = (m: string) => new BadInputError(`job file ${file}: field "model.inputs" ${m}`);
  if (input !== undefined) throw bad('and "model.input" are both set; keep one (inputs for a model with several inputs)');
  if (j.features.list_column !== undefined) throw bad('needs features.columns, not a list column: it names the columns each input takes');
  const entries = Object.entries(inputs);
  if (entries.length === 0) throw bad('is empty; name each model input and its columns, or use model.input');
  const seen = new Map<string, string>();
  const out = entries.map(([name, cols]) => ({
    name,
    columns: cols.map((c) => {
      const at = columns.indexOf(c);
      if (at < 0) throw bad(`gives input "${name}" column "${c}", which is not in features.columns (${columns.join(', ')})`);
      if (seen.has(c)) throw bad(`gives column "${c}" to both "${seen.get(c)}" and "${name}"; each column feeds one input`);
      seen.set(c, name);
      return at;
    }),
  }));
  const unused = columns.filter((c) => !seen.has(c));
  if (unused.length)
    throw bad(
      `leaves column(s) ${unused.map((c) => `"${c}"`).join(', ')} of features.columns to no input; every feature column feeds one input`,
    );
  return out;
}

/** The validated file, in the shape the code uses: camelCase, defaults filled, paths absolute. */
function toJobDefinition(name: string, file: string, j: JobFile, root: string): JobDefinition {
  const abs = (p: string) => path.resolve(root, p);
  const f = j.features;
  const columns = f.columns ?? [];
  const o = j.model.output;
  return {
    name,
    file,
    description: j.description ?? '',
    features: {
      // A URL (s3://, gs://, https://) is read by DuckDB's httpfs extension (config duckdb.extensions), not resolved.
      path: /^[a-z][a-z0-9+.-]*:\/\//i.test(f.path) ? f.path : abs(f.path),
      partitionColumn: f.partition_column,
      partitionFormat: f.partition_format,
      userIdColumn: f.user_id_column,
      columns,
      listColumn: f.list_column,
      size: f.list_column !== undefined ? f.list_size! : columns.length,
      allowExtraColumns: f.allow_extra_columns,
    },
    model: {
      path: abs(j.model.path),
      inputs: modelInputs(file, j, columns),
      output: o.kind === 'scores' ? { kind: o.kind, name: o.name } : { kind: o.kind, values: o.values, indices: o.indices },
      card: j.model.card !== undefined ? abs(j.model.card) : undefined,
      version: j.model.version,
      examples: (j.model.examples ?? []).map((e) => ({ inputs: e.inputs, outputs: e.outputs })),
    },
    items: {
      path: abs(j.items.path),
      idColumn: j.items.id_column,
      indexColumn: j.items.index_column,
      attributes: j.items.attributes ?? [],
    },
    k: j.k,
    batchSize: j.batch_size,
    minRows: j.min_rows,
    badRows: { mode: j.bad_rows?.mode ?? 'reject', maxBadFraction: j.bad_rows?.max_bad_fraction ?? 0 },
    fallback: j.fallback,
    schedule: j.schedule && {
      cron: j.schedule.cron,
      timezone: j.schedule.timezone,
      catchupDays: j.schedule.catchup_days,
      startDate: j.schedule.start_date,
      waitForData: j.schedule.wait_for_data && {
        timeoutSeconds: j.schedule.wait_for_data.timeout_seconds,
        pollSeconds: j.schedule.wait_for_data.poll_seconds,
      },
    },
    retention: {
      keep: j.retention?.keep ?? 3,
      days: j.retention?.days,
      archive: j.retention?.archive === undefined ? undefined : abs(j.retention.archive),
    },
    workers: j.workers,
    intraOpThreads: j.intra_op_threads,
    gates: toGates(j.gates),
    expectations: {
      rowCount: j.expectations?.row_count && { min: j.expectations.row_count.min, max: j.expectations.row_count.max },
      columns: Object.entries(j.expectations?.columns ?? {}).map(([column, e]) => ({
        column,
        notNull: e.not_null ?? false,
        between: e.between && { min: e.between.min, max: e.between.max },
        acceptedValues: e.accepted_values,
        maxNullShare: e.max_null_share,
      })),
    },
  };
}

/** Defaults catch catastrophes and stay quiet on ordinary days; docs/guardrails.md ("Why these defaults") says why each one. null = that gate off. */
function toGates(g: JobFile['gates']): JobGates {
  const v = (value: number | null | undefined, fallback: number | null) => (value === undefined ? fallback : value);
  return {
    enabled: g?.enabled ?? true,
    // off by default: a popular item legitimately reaches most lists (a random 60-item model: 91% of users)
    maxTopItemShare: v(g?.max_top_item_share, null),
    // undefined = the default, min(1, 2k / items)
    minCatalogCoverage: g?.min_catalog_coverage,
    minScoredRatio: v(g?.min_scored_ratio, 0.5),
    // off by default: a weather or calendar feature jumps as far in PSI from one day to the next as a unit error
    maxFeaturePsi: v(g?.max_feature_psi, null),
    psiDriftThreshold: g?.psi_drift_threshold ?? 0.25,
    maxDriftedFeatureShare: v(g?.max_drifted_feature_share, 0.5),
    // 5: the worst ordinary demo day moves 2.3x, a unit error 10x or more (src/guard/scale-ratio.ts)
    maxFeatureScaleRatio: v(g?.max_feature_scale_ratio, 5),
    scaleRatioSkipFeatures: g?.scale_ratio_skip_features ?? [],
    maxNewConstantFeatures: v(g?.max_new_constant_features, 0),
    // 0 changed features against an earlier date: yesterday's file under today's date
    minChangedFeatures: v(g?.min_changed_features, 1),
    minOverlapAtK: v(g?.min_overlap_at_k, null),
    minRbo: v(g?.min_rbo, null),
    maxItemJsDistance: v(g?.max_item_js_distance, 0.8),
    // a partial upstream export is the commonest broken day: more than 10% of the users gone holds it, and a
    // day with half again as many users (a duplicated or merged export) too; the demo's days differ by 0%
    minUsersRatio: v(g?.min_users_ratio, 0.9),
    maxUsersRatio: v(g?.max_users_ratio, 1.5),
  };
}

/**
 * JSON.parse's complaint with a line and column instead of a character position (Node 20 gives only
 * "at position 57"), and the usual cause named: a trailing comma, which JSON does not allow.
 */
export function jsonErrorAt(text: string, message: string): string {
  const m = /(.*?)(?: in JSON)? at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message);
  if (!m) return message;
  const pos = Number(m[2]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  const trailing = /,\s*$/.test(before) && /^\s*[}\]]/.test(text.slice(pos)) ? ' (a trailing comma: JSON allows none; remove it)' : '';
  return `line ${line}, column ${column}: ${m[1]}${trailing}`;
}

/** Parses and validates one job file. Relative paths in it are resolved against `root`. */
export function parseJob(file: string, text: string, root: string): JobDefinition {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`job file ${file} is not valid JSON: ${jsonErrorAt(text, (err as Error).message)}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new BadInputError(`job file ${file} must hold a JSON object`);
  const parsed = jobFileSchema.safeParse(obj);
  // No cause: the message says the first problem in our words; Zod's own text is a JSON dump of every issue.
  if (!parsed.success) throw new BadInputError(describeIssues(file, parsed.error));
  const j = parsed.data;
  const fileName = path.basename(file).replace(/\.json$/, '');
  const name = j.name ?? fileName;
  if (!JOB_NAME.test(name)) throw new BadInputError(`job file ${file}: field "name" must match ${JOB_NAME} (got ${JSON.stringify(name)})`);
  if (name !== fileName)
    throw new BadInputError(`job file ${file}: field "name" is "${name}" but the file is named ${fileName}.json; make them the same`);
  if (j.schedule) checkSchedule(file, j.schedule);
  const job = toJobDefinition(name, file, j, root);
  // a misspelt feature would leave the one it meant judged by the unit-error gate, silently
  const features = job.features.listColumn
    ? Array.from({ length: job.features.size }, (_, i) => `${job.features.listColumn}[${i + 1}]`)
    : job.features.columns;
  // min above max would hold every run of the job, whatever its users: a typo, said now
  const { minUsersRatio: lo, maxUsersRatio: hi } = job.gates;
  if (lo !== null && hi !== null && lo > hi)
    throw new BadInputError(
      `job file ${file}: field "gates.min_users_ratio" (${lo}) is above "gates.max_users_ratio" (${hi}), so every run would be held; ` +
        'make min_users_ratio at most max_users_ratio (defaults 0.9 and 1.5), or set one of them to null to turn it off',
    );
  const unknown = job.gates.scaleRatioSkipFeatures.find((f) => !features.includes(f));
  if (unknown !== undefined)
    throw new BadInputError(
      `job file ${file}: field "gates.scale_ratio_skip_features" names "${unknown}", which is not a feature (${features.length > 12 ? `${features.slice(0, 12).join(', ')}, ...` : features.join(', ')})`,
    );
  return Object.freeze(job);
}

/**
 * The demo's job lives in the package's demo/ folder, not in jobs/: the user's jobs/ holds only the user's
 * jobs. `--job demo` always finds it; `serve` and `schedule` take it only while jobs/ holds no job at all
 * (a fresh clone, right after `batchcast demo`), so it never runs, serves or fails beside a user's job.
 */
export const DEMO_JOB = 'demo';
export const DEMO_JOBS_DIR = fileURLToPath(new URL('../../demo', import.meta.url));

/** The jobs `serve` and `schedule` act on: every job file in jobs/, or the demo's job while there is none. */
export function projectJobs(jobsDir: string): string[] {
  const names = listJobs(jobsDir);
  return names.length ? names : [DEMO_JOB];
}

/** The job files in jobs/ (the user's jobs; the demo's job is not among them). */
export function listJobs(jobsDir: string): string[] {
  if (!existsSync(jobsDir)) return [];
  return readdirSync(jobsDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

/** Loads jobs/<name>.json. Paths inside are relative to the project root (the folder holding jobs/). */
export function loadJob(jobsDir: string, name: string, root = path.dirname(jobsDir)): JobDefinition {
  if (!JOB_NAME.test(name)) {
    throw new BadInputError(`job name ${JSON.stringify(name)} is not valid: use lower-case letters, digits, - and _`);
  }
  const file = path.join(jobsDir, `${name}.json`);
  if (!existsSync(file) && name === DEMO_JOB) return loadJob(DEMO_JOBS_DIR, name, root);
  if (!existsSync(file)) {
    const known = listJobs(jobsDir);
    throw new BadInputError(
      `unknown job "${name}": no ${file}${known.length ? `; known jobs: ${known.join(', ')}` : '; add a job file to jobs/'}`,
    );
  }
  return parseJob(file, readFileSync(file, 'utf8'), root);
}
