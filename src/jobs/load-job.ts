// A job is one JSON file in jobs/. It is validated here, at load, and every error names the file and field.
// Adding a job means adding a file: nothing in src/ knows job names.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../errors.ts';
import { cronProblem, timezoneProblem } from '../schedule/ticks.ts';

export type ModelOutput =
  | { kind: 'scores'; name: string }
  | { kind: 'top_k'; values: string; indices: string };

export interface JobDefinition {
  name: string;
  file: string;
  description: string;
  features: {
    /** Glob over the hive-partitioned dataset, e.g. /abs/data/demo/features/dt=*\/*.parquet */
    path: string;
    partitionColumn: string;
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
  model: { path: string; input: string; output: ModelOutput; card: string | undefined; version: string | undefined };
  /** attributes: columns of the items file the API returns with each item (?include=attributes); [] = none. */
  items: { path: string; idColumn: string; indexColumn: string | undefined; attributes: string[] };
  k: number;
  batchSize: number;
  minRows: number;
  badRows: { mode: 'reject' | 'skip'; maxBadFraction: number };
  fallback: boolean;
  schedule: { cron: string; timezone: string; catchupDays: number } | undefined;
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
}

type Json = Record<string, unknown>;

class Fields {
  constructor(private readonly file: string, private readonly obj: Json, private readonly prefix = '') {}

  private fail(field: string, what: string): never {
    throw new BadInputError(`job file ${this.file}: field "${this.prefix}${field}" ${what}`);
  }
  private raw(field: string): unknown { return this.obj[field]; }

  has(field: string): boolean { return this.raw(field) !== undefined; }
  isNull(field: string): boolean { return this.raw(field) === null; }

  string(field: string, fallback?: string): string {
    const v = this.raw(field) ?? fallback;
    if (typeof v !== 'string' || v.trim() === '') this.fail(field, v === undefined ? 'is missing' : 'must be a non-empty string');
    return v;
  }
  optString(field: string): string | undefined {
    return this.has(field) ? this.string(field) : undefined;
  }
  int(field: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(field) ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(field, v === undefined ? 'is missing' : `must be an integer between ${min} and ${max} (got ${JSON.stringify(v)})`);
    }
    return v;
  }
  number(field: string, fallback: number, min: number, max: number): number {
    const v = this.raw(field) ?? fallback;
    if (typeof v !== 'number' || !(v >= min && v <= max)) this.fail(field, `must be a number between ${min} and ${max} (got ${JSON.stringify(v)})`);
    return v;
  }
  bool(field: string, fallback: boolean): boolean {
    const v = this.raw(field) ?? fallback;
    if (typeof v !== 'boolean') this.fail(field, 'must be true or false');
    return v;
  }
  oneOf<T extends string>(field: string, allowed: readonly T[], fallback?: T): T {
    const v = this.raw(field) ?? fallback;
    if (!allowed.includes(v as T)) this.fail(field, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
    return v as T;
  }
  strings(field: string): string[] {
    const v = this.raw(field);
    if (!Array.isArray(v) || v.length === 0) this.fail(field, 'must be a non-empty array of column names');
    v.forEach((s, i) => { if (typeof s !== 'string' || !s) this.fail(`${field}[${i}]`, 'must be a non-empty string'); });
    const dup = v.find((s, i) => v.indexOf(s) !== i);
    if (dup) this.fail(field, `lists column "${dup}" twice`);
    return v as string[];
  }
  object(field: string, required = true): Fields | undefined {
    const v = this.raw(field);
    if (v === undefined && !required) return undefined;
    if (!v || typeof v !== 'object' || Array.isArray(v)) this.fail(field, v === undefined ? 'is missing' : 'must be an object');
    return new Fields(this.file, v as Json, `${this.prefix}${field}.`);
  }
  /** A number in [min, max], or null (the job switches that check off). */
  numberOrOff(field: string, fallback: number | null, min: number, max: number): number | null {
    if (this.raw(field) === null) return null;
    if (!this.has(field)) return fallback;
    return this.number(field, 0, min, max);
  }
  rejectUnknown(known: string[]): void {
    for (const k of Object.keys(this.obj)) {
      if (!known.includes(k) && !k.startsWith('$') && k !== 'comment') this.fail(k, `is not a known field (known: ${known.join(', ')})`);
    }
  }
}

/** The cron expression and time zone are checked here, so a scheduler never starts with one it cannot run. */
function parseSchedule(file: string, sched: Fields): NonNullable<JobDefinition['schedule']> {
  const schedule = { cron: sched.string('cron'), timezone: sched.string('timezone', 'UTC'), catchupDays: sched.int('catchup_days', 7, 0, 3650) };
  const cron = cronProblem(schedule.cron);
  if (cron) throw new BadInputError(`job file ${file}: field "schedule.cron" ${cron}`);
  const timezone = timezoneProblem(schedule.timezone);
  if (timezone) throw new BadInputError(`job file ${file}: field "schedule.timezone" ${timezone}`);
  return schedule;
}

/** retention.days and retention.archive (issue 11): the archive template must name {date}, or dates overwrite each other. */
function parseRetention(file: string, r: Fields | undefined, abs: (p: string) => string): JobDefinition['retention'] {
  const days = r?.has('days') ? r.int('days', undefined, 1, 36500) : undefined;
  const archive = r?.optString('archive');
  if (archive !== undefined) {
    const unknown = archive.match(/\{(?!job\}|date\})[^}]*\}/);
    if (!archive.includes('{date}') || unknown) {
      throw new BadInputError(`job file ${file}: field "retention.archive" ${unknown ? `has an unknown placeholder ${unknown[0]}` : 'must contain {date}'}; use {job} and {date}, e.g. "data/archive/{job}/dt={date}.parquet"`);
    }
  }
  return { keep: r ? r.int('keep', 3, 1, 1000) : 3, days, archive: archive === undefined ? undefined : abs(archive) };
}

// ---- gates: a self-contained block (issue 9). Every threshold may be null to switch that gate off.
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
  maxNewConstantFeatures: number | null;
  minOverlapAtK: number | null;
  minRbo: number | null;
  maxItemJsDistance: number | null;
  minUsersRatio: number | null;
}

const GATE_FIELDS = ['enabled', 'max_top_item_share', 'min_catalog_coverage', 'min_scored_ratio', 'max_feature_psi', 'psi_drift_threshold',
  'max_drifted_feature_share', 'max_feature_scale_ratio', 'max_new_constant_features', 'min_overlap_at_k', 'min_rbo', 'max_item_js_distance', 'min_users_ratio'];

/** Defaults catch catastrophes and stay quiet on ordinary days; the README ("Guardrails") says why each one. */
function parseGates(g: Fields | undefined): JobGates {
  g?.rejectUnknown(GATE_FIELDS);
  const v = (field: string, fallback: number | null, min: number, max: number) => (g ? g.numberOrOff(field, fallback, min, max) : fallback);
  return {
    enabled: g ? g.bool('enabled', true) : true,
    // off by default: a popular item legitimately reaches most lists (a random 60-item model: 91% of users)
    maxTopItemShare: v('max_top_item_share', null, 0, 1),
    minCatalogCoverage: g?.has('min_catalog_coverage') || g?.isNull('min_catalog_coverage') ? v('min_catalog_coverage', null, 0, 1) : undefined,
    minScoredRatio: v('min_scored_ratio', 0.5, 0, 1),
    // off by default: a weather or calendar feature jumps as far in PSI from one day to the next as a unit error
    maxFeaturePsi: v('max_feature_psi', null, 0, Number.MAX_VALUE),
    psiDriftThreshold: v('psi_drift_threshold', 0.25, 0, Number.MAX_VALUE) ?? 0.25,
    maxDriftedFeatureShare: v('max_drifted_feature_share', 0.5, 0, 1),
    maxFeatureScaleRatio: v('max_feature_scale_ratio', 100, 1, Number.MAX_VALUE),
    maxNewConstantFeatures: v('max_new_constant_features', 0, 0, Number.MAX_SAFE_INTEGER),
    minOverlapAtK: v('min_overlap_at_k', null, 0, 1),
    minRbo: v('min_rbo', null, 0, 1),
    maxItemJsDistance: v('max_item_js_distance', 0.8, 0, 1),
    minUsersRatio: v('min_users_ratio', 0.5, 0, Number.MAX_VALUE),
  };
}
// ---- end of gates

const JOB_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** Parses and validates one job file. Relative paths in it are resolved against `root`. */
export function parseJob(file: string, text: string, root: string): JobDefinition {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`job file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new BadInputError(`job file ${file} must hold a JSON object`);
  const f = new Fields(file, obj as Json);
  f.rejectUnknown(['name', 'description', 'features', 'model', 'items', 'k', 'batch_size', 'min_rows', 'bad_rows', 'fallback', 'schedule', 'retention', 'workers', 'intra_op_threads', 'gates']);
  const fileName = path.basename(file).replace(/\.json$/, '');
  const name = f.string('name', fileName);
  if (!JOB_NAME.test(name)) throw new BadInputError(`job file ${file}: field "name" must match ${JOB_NAME} (got ${JSON.stringify(name)})`);
  if (name !== fileName) throw new BadInputError(`job file ${file}: field "name" is "${name}" but the file is named ${fileName}.json; make them the same`);
  const abs = (p: string) => path.resolve(root, p);

  const feat = f.object('features')!;
  feat.rejectUnknown(['path', 'partition_column', 'user_id_column', 'columns', 'list_column', 'list_size', 'allow_extra_columns']);
  const hasColumns = feat.has('columns');
  const hasList = feat.has('list_column');
  if (hasColumns === hasList) {
    throw new BadInputError(`job file ${file}: field "features" needs exactly one of "columns" (scalar float columns) or "list_column" (one fixed-size list column)`);
  }
  const columns = hasColumns ? feat.strings('columns') : [];
  const listColumn = hasList ? feat.string('list_column') : undefined;
  // A URL (s3://, gs://, https://) is read by DuckDB's httpfs extension (config duckdb.extensions), not resolved.
  const featuresPath = feat.string('path');
  const features = {
    path: /^[a-z][a-z0-9+.-]*:\/\//i.test(featuresPath) ? featuresPath : abs(featuresPath),
    partitionColumn: feat.string('partition_column', 'dt'),
    userIdColumn: feat.string('user_id_column', 'user_id'),
    columns,
    listColumn,
    size: hasList ? feat.int('list_size', undefined, 1, 1 << 20) : columns.length,
    allowExtraColumns: feat.bool('allow_extra_columns', false),
  };
  if (columns.includes(features.userIdColumn)) {
    throw new BadInputError(`job file ${file}: field "features.columns" includes the user id column "${features.userIdColumn}"`);
  }

  const model = f.object('model')!;
  model.rejectUnknown(['path', 'input', 'output', 'card', 'version']);
  const out = model.object('output')!;
  const kind = out.oneOf('kind', ['scores', 'top_k'] as const);
  out.rejectUnknown(kind === 'scores' ? ['kind', 'name'] : ['kind', 'values', 'indices']);
  const output: ModelOutput = kind === 'scores'
    ? { kind, name: out.string('name', 'scores') }
    : { kind, values: out.string('values', 'top_scores'), indices: out.string('indices', 'top_indices') };

  const items = f.object('items')!;
  items.rejectUnknown(['path', 'id_column', 'index_column', 'attributes']);
  const attributes = items.has('attributes') ? items.strings('attributes') : [];
  const idColumn = items.string('id_column', 'item_id');
  if (attributes.includes(idColumn)) {
    throw new BadInputError(`job file ${file}: field "items.attributes" lists the id column "${idColumn}"; every item already carries its id as item_id`);
  }

  const bad = f.object('bad_rows', false);
  bad?.rejectUnknown(['mode', 'max_bad_fraction']);
  const sched = f.object('schedule', false);
  sched?.rejectUnknown(['cron', 'timezone', 'catchup_days']);
  const retention = f.object('retention', false);
  retention?.rejectUnknown(['keep', 'days', 'archive']);

  const job: JobDefinition = {
    name,
    file,
    description: f.has('description') ? f.string('description') : '',
    features,
    model: {
      path: abs(model.string('path')),
      input: model.string('input', 'features'),
      output,
      card: model.has('card') ? abs(model.string('card')) : undefined,
      version: model.optString('version'),
    },
    items: { path: abs(items.string('path')), idColumn, indexColumn: items.optString('index_column'), attributes },
    k: f.int('k', 10, 1, 1000),
    batchSize: f.int('batch_size', 8192, 1, 1 << 20),
    minRows: f.int('min_rows', 1, 0),
    badRows: {
      mode: bad ? bad.oneOf('mode', ['reject', 'skip'] as const, 'reject') : 'reject',
      maxBadFraction: bad ? bad.number('max_bad_fraction', 0, 0, 1) : 0,
    },
    fallback: f.bool('fallback', false),
    schedule: sched ? parseSchedule(file, sched) : undefined,
    retention: parseRetention(file, retention, abs),
    workers: f.has('workers') ? f.int('workers', undefined, 1, 64) : undefined,
    intraOpThreads: f.has('intra_op_threads') ? f.int('intra_op_threads', undefined, 1, 256) : undefined,
    gates: parseGates(f.object('gates', false)),
  };
  return Object.freeze(job);
}

export function listJobs(jobsDir: string): string[] {
  if (!existsSync(jobsDir)) return [];
  return readdirSync(jobsDir).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
}

/** Loads jobs/<name>.json. Paths inside are relative to the project root (the folder holding jobs/). */
export function loadJob(jobsDir: string, name: string, root = path.dirname(jobsDir)): JobDefinition {
  if (!JOB_NAME.test(name)) {
    throw new BadInputError(`job name ${JSON.stringify(name)} is not valid: use lower-case letters, digits, - and _`);
  }
  const file = path.join(jobsDir, `${name}.json`);
  if (!existsSync(file)) {
    const known = listJobs(jobsDir);
    throw new BadInputError(`unknown job "${name}": no ${file}${known.length ? `; known jobs: ${known.join(', ')}` : '; add a job file to jobs/'}`);
  }
  return parseJob(file, readFileSync(file, 'utf8'), root);
}
