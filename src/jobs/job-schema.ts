// The job file's schema, in Zod 4: one source for validation at load (load-job.ts) and for
// schema/job.schema.json (`npm run schema`), which editors use through a job file's "$schema".
//
// Each section of a job file is its own small constant below (features, model, items, bad_rows, schedule,
// retention), put together in `jobFileSchema`. To add a field: add it to its section with a `describe()`
// (the text editors show), map it in load-job.ts `toJobDefinition`, run `npm run schema`.
//
// Messages are written in our words ("must be an integer between 1 and 1000 (got 0)"), not Zod's defaults,
// because load-job.ts puts them after `job file F: field "a.b"` and they must say what to do.
import { z } from 'zod';

type Issue = { code?: string; input?: unknown };
const got = (v: unknown) => `(got ${JSON.stringify(v)})`;
/** "20" for a number: a plain word for the usual slip, a number written in quotes. */
const gotNumber = (v: unknown) =>
  typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
    ? `(got the string ${JSON.stringify(v)}: write the number without quotes)`
    : got(v);
const missingOr = (what: string) => (iss: Issue) => (iss.input === undefined ? 'is missing' : what);

/** A non-empty string (a path, a column or tensor name). */
export const text = () =>
  z
    .string({ error: missingOr('must be a non-empty string') })
    .min(1, 'must be a non-empty string')
    .refine((s) => s.trim() !== '', 'must be a non-empty string');

/** A whole number in [min, max]; the message gives the range and the value found. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const error = (iss: Issue) =>
    iss.input === undefined ? 'is missing' : `must be an integer between ${min} and ${max} ${gotNumber(iss.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

/** A number in [min, max]. */
export const number = (min: number, max: number) => {
  const error = (iss: Issue) => `must be a number between ${min} and ${max} ${gotNumber(iss.input)}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
};

export const bool = () => z.boolean({ error: 'must be true or false' });

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => (iss.input === undefined ? 'is missing' : `must be one of ${values.join(', ')} ${got(iss.input)}`) });

/** A non-empty list of distinct names (feature columns, item attributes). */
export const names = () =>
  z
    .array(text(), { error: missingOr('must be a non-empty array of column names') })
    .min(1, 'must be a non-empty array of column names')
    .superRefine((v, ctx) => {
      const dup = v.find((s, i) => v.indexOf(s) !== i);
      if (dup !== undefined) ctx.addIssue({ code: 'custom', message: `lists column "${dup}" twice` });
    })
    .meta({ uniqueItems: true });

/**
 * A section: an object that rejects fields it does not know (a typo would otherwise be ignored silently)
 * and says which fields it knows. `comment` is allowed everywhere, for notes in the file.
 */
export const section = <S extends z.ZodRawShape>(shape: S) => {
  const known = Object.keys(shape);
  return z.strictObject(
    { ...shape, comment: z.string().optional().describe('free text, ignored') },
    {
      error: (iss) => {
        if (iss.code === 'unrecognized_keys') return `is not a known field (known: ${known.join(', ')})`;
        return iss.input === undefined ? 'is missing' : 'must be an object';
      },
    },
  );
};

export const featuresSchema = section({
  path: text().describe(
    'Parquet glob over the hive-partitioned dataset, e.g. data/x/features/dt=*/*.parquet; relative to the project root. Or a glob with the date in it: {date}, {yyyymmdd}, {yyyy}, {mm}, {dd} (zero-padded), {m}, {d} (not), e.g. features/year={yyyy}/month={m}/day={d}/*.parquet',
  ),
  partition_column: text().default('dt').describe('the hive partition column holding the date'),
  partition_format: oneOf(['YYYY-MM-DD', 'YYYYMMDD'])
    .default('YYYY-MM-DD')
    .describe('how the date is written in the partition folder: dt=2026-11-20 or dt=20261120'),
  user_id_column: text().default('user_id').describe('integer or string user ids (stored as text)'),
  columns: names().optional().describe('scalar float columns in model-input order (or list_column + list_size)'),
  list_column: text().optional().describe('one fixed-size list column holding all features (instead of columns)'),
  list_size: int(1, 1 << 20)
    .optional()
    .describe('length of list_column: the model input width'),
  allow_extra_columns: bool().default(false).describe('ignore columns the job does not name instead of failing the run (schema drift)'),
}).superRefine((f, ctx) => {
  if ((f.columns === undefined) === (f.list_column === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'needs exactly one of "columns" (scalar float columns) or "list_column" (one fixed-size list column)',
    });
  } else if (f.list_column !== undefined && f.list_size === undefined) {
    ctx.addIssue({ code: 'custom', path: ['list_size'], message: 'is missing' });
  } else if (f.columns?.includes(f.user_id_column)) {
    ctx.addIssue({ code: 'custom', path: ['columns'], message: `includes the user id column "${f.user_id_column}"` });
  }
});

const outputKinds = ['scores', 'top_k'] as const;
export const modelOutputSchema = z.discriminatedUnion(
  'kind',
  [
    section({
      kind: z.literal('scores'),
      name: text().default('scores').describe('output tensor [batch, n_items] of scores; batchcast takes the top K'),
    }).describe('the model returns a score for every item'),
    section({
      kind: z.literal('top_k'),
      values: text().default('top_scores').describe('output tensor [batch, >= k] of scores, best first'),
      indices: text().default('top_indices').describe('output tensor [batch, >= k] of item indices (int64 or int32)'),
    }).describe('the model returns its top K (e.g. ends in a TopK node)'),
  ],
  {
    error: (iss) => {
      if (iss.input === undefined) return 'is missing';
      const kind = (iss.input as { kind?: unknown })?.kind;
      return `must be one of ${outputKinds.join(', ')} ${got(kind)}`;
    },
  },
);

/** One known input -> output pair of the model, as the training code computed it (MLflow's input example). */
export const exampleSchema = section({
  inputs: z
    .record(text(), z.union([z.number(), z.array(z.number())]), {
      error: 'must be an object: feature column -> number (a list column -> array of numbers)',
    })
    .describe('the feature values of one row, by column name (order does not matter)'),
  outputs: z
    .record(text(), z.array(z.number()).min(1, 'must be a non-empty array of numbers'), {
      error: 'must be an object: model output name -> array of numbers',
    })
    .describe("what the training code's model returned for that row, by output name (one row, without the batch axis)"),
});

export const modelSchema = section({
  path: text().describe('the ONNX file; relative to the project root'),
  input: text()
    .optional()
    .describe('input tensor name (default "features"); shape [batch, n_features], float32 or float64 (a fixed batch size runs, slower)'),
  inputs: z
    .record(text(), names(), { error: 'must be an object: model input name -> array of feature columns' })
    .optional()
    .describe(
      'instead of input, for a model with several inputs (one per feature, as Keras and skl2onnx pipelines export): each input name -> the columns of features.columns it takes, in its order; each input is [batch, n] (or [batch] for one column)',
    ),
  output: modelOutputSchema,
  card: text()
    .optional()
    .describe(
      'model card JSON: version, sha256, items.count and feature_order; every run checks sha256 against the model file, items.count against the items file and feature_order against features.columns (docs/jobs.md, "Model cards")',
    ),
  examples: z
    .array(exampleSchema, { error: 'must be an array of {"inputs": {...}, "outputs": {...}}' })
    .min(1, 'must hold at least one example')
    .optional()
    .describe(
      'rows of inputs with the outputs the training code computed: predict and --dry-run run the model on them and fail when it answers otherwise (a wrong features.columns order); floats match within 1e-5 + 1e-4 x |expected|, integers exactly',
    ),
  version: text().optional().describe("the version recorded with each run (default: the card's, else the file's sha256)"),
});

export const itemsSchema = section({
  path: text().describe("CSV, Parquet or JSON mapping the model's item index to an item id"),
  id_column: text().default('item_id').describe('the item id column'),
  index_column: text().optional().describe("the model's item index 0..n-1 (default: row order)"),
  attributes: names().optional().describe('columns of the items file the API returns with each item (?include=attributes)'),
}).superRefine((items, ctx) => {
  if (items.attributes?.includes(items.id_column)) {
    ctx.addIssue({
      code: 'custom',
      path: ['attributes'],
      message: `lists the id column "${items.id_column}"; every item already carries its id as item_id`,
    });
  }
});

export const badRowsSchema = section({
  mode: oneOf(['reject', 'skip'])
    .default('reject')
    .describe('reject: a NaN/Inf/NULL feature fails the run; skip: such rows go to batchcast.rejected_rows'),
  max_bad_fraction: number(0, 1).default(0).describe('with skip: the run fails above this fraction of bad rows'),
});

export const scheduleSchema = section({
  cron: text().describe('five fields: minute hour day-of-month month day-of-week (node-cron syntax)'),
  timezone: text().default('UTC').describe('IANA time zone the cron expression is read in'),
  catchup_days: int(0, 3650).default(7).describe('how many days back the scheduler still catches up'),
  start_date: z
    .string({ error: 'must be a date YYYY-MM-DD' })
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD, e.g. "2026-11-01"')
    .refine(
      (d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d),
      'is not a calendar date',
    )
    .optional()
    .describe(
      "the first date the scheduler runs; catch-up never goes earlier (default: the earliest date with data on disk, else the job's first run)",
    ),
  wait_for_data: section({
    timeout_seconds: int(1, 7 * 86_400).describe(
      "how long a date waits for its files, from the scheduler's first look, before it fails as late",
    ),
    poll_seconds: int(1, 86_400).default(60).describe('how often the scheduler looks for the files meanwhile'),
  })
    .optional()
    .describe("a date whose files are not there yet is 'waiting' instead of failed, until the timeout (then exit 7, late)"),
});

/** What an archive path template lacks, or undefined: without {job} two jobs' archives of one date share a path. */
export function archiveTemplateProblem(template: string): string | undefined {
  const unknown = template.match(/\{(?!job\}|date\}|run\})[^}]*\}/);
  if (unknown) return `has an unknown placeholder ${unknown[0]}; use {job}, {date} and {run}`;
  const missing = ['{job}', '{date}'].filter((p) => !template.includes(p));
  if (missing.length) return `must contain ${missing.join(' and ')}, or two jobs or two dates would write the same file`;
  return undefined;
}

export const retentionSchema = section({
  keep: int(1, 1000).default(3).describe('generations kept per date, the published one included'),
  days: int(1, 36500).optional().describe('dates more than this many days older than the newest published date are dropped'),
  archive: text()
    .superRefine((a, ctx) => {
      const problem = archiveTemplateProblem(a);
      if (problem) ctx.addIssue({ code: 'custom', message: `${problem}; e.g. "data/archive/{job}/dt={date}.parquet"` });
    })
    .optional()
    .describe(
      "Parquet path template with {job} and {date} (and optionally {run}): where a date's published run goes before it is dropped; an existing archive of another run is never replaced",
    ),
});

/** A gate's threshold: a number in [min, max], or null to switch that gate off. */
const gate = (min: number, max: number, what: string) =>
  number(min, max).nullable().optional().describe(`${what}; null switches the gate off`);

/** Thresholds a run must meet to be published (src/guard/gates.ts; docs/guardrails.md, "Gates"). Defaults in load-job.ts toGates. */
export const gatesSchema = section({
  enabled: bool().optional().describe('false: publish without checking any gate (default true)'),
  max_top_item_share: gate(0, 1, 'value gate: most users may share one item in their top K (default off)'),
  min_catalog_coverage: gate(0, 1, "value gate: share of the items in someone's top K (default min(1, 2k / items))"),
  min_scored_ratio: gate(0, 1, 'value gate: users scored / users read (default 0.5)'),
  max_feature_psi: gate(0, Number.MAX_VALUE, 'change gate: largest PSI of one feature against the reference (default off)'),
  psi_drift_threshold: number(0, Number.MAX_VALUE).optional().describe('PSI above which a feature counts as drifted (default 0.25)'),
  max_drifted_feature_share: gate(0, 1, 'change gate: share of drifted features (default 0.5)'),
  max_feature_scale_ratio: gate(
    1,
    Number.MAX_VALUE,
    "change gate (unit errors): a feature's spread (p90 - p10 of its non-zero values) against the reference, either way (default 5)",
  ),
  scale_ratio_skip_features: names()
    .optional()
    .describe(
      'features max_feature_scale_ratio leaves out: ones whose scale itself changes between days (rain in mm); bound them with expectations',
    ),
  max_new_constant_features: gate(0, Number.MAX_SAFE_INTEGER, 'change gate: features that became constant (default 0)'),
  min_changed_features: gate(
    0,
    Number.MAX_SAFE_INTEGER,
    "change gate: features whose profile differs from an earlier reference date's; 0 = the same input again (default 1)",
  ),
  min_overlap_at_k: gate(0, 1, "change gate: mean overlap of users' top K with the reference (default off)"),
  min_rbo: gate(0, 1, 'change gate: mean rank-biased overlap with the reference (default off)'),
  max_item_js_distance: gate(0, 1, 'change gate: Jensen-Shannon distance of item popularity (default 0.8)'),
  min_users_ratio: gate(0, Number.MAX_VALUE, 'change gate: users now / users in the reference; below it a day lost users (default 0.9)'),
  max_users_ratio: gate(1, Number.MAX_VALUE, 'change gate: users now / users in the reference; above it a day gained users (default 1.5)'),
});

/** Both ends optional, at least one; min <= max. */
const bounds = (what: string, n: () => z.ZodNumber) =>
  section({
    min: n().optional().describe(`smallest ${what} allowed`),
    max: n().optional().describe(`largest ${what} allowed`),
  }).superRefine((b, ctx) => {
    if (b.min === undefined && b.max === undefined) ctx.addIssue({ code: 'custom', message: 'needs "min", "max" or both' });
    else if (b.min !== undefined && b.max !== undefined && b.min > b.max)
      ctx.addIssue({ code: 'custom', message: `has min ${b.min} above max ${b.max}` });
  });
const anyNumber = () => z.number({ error: (iss) => `must be a number ${gotNumber(iss.input)}` });

/** Absolute checks on one column of a date's partition, in the manner of dbt tests (src/guard/check-expectations.ts). */
export const columnExpectationsSchema = section({
  not_null: bool().optional().describe('true: no NULL in the column'),
  between: bounds('value', anyNumber).optional().describe('every non-NULL value within [min, max] (NaN is outside)'),
  accepted_values: z
    .array(z.union([z.string(), z.number()]), { error: 'must be a non-empty array of strings or numbers' })
    .min(1, 'must be a non-empty array of strings or numbers')
    .optional()
    .describe('every non-NULL value is one of these'),
  max_null_share: number(0, 1).optional().describe('NULL rows / rows at most this'),
});

/** Expectations on a date's inputs: a broken one holds the day (docs/jobs.md, "Expectations"). */
export const expectationsSchema = section({
  row_count: bounds('row count', () => int(0))
    .optional()
    .describe("rows in the date's partition between min and max"),
  columns: z
    .record(text(), columnExpectationsSchema, { error: 'must be an object: column name -> its expectations' })
    .optional()
    .describe('column of the feature files -> its expectations; any column of the files, not only features'),
});

export const JOB_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

export const jobFileSchema = section({
  $schema: z.string().optional().describe('path or URL of this schema, for editors'),
  name: text().optional().describe('must equal the file name without .json'),
  description: text().optional(),
  features: featuresSchema,
  model: modelSchema,
  items: itemsSchema,
  k: int(1, 1000).default(10).describe('recommendations kept per user'),
  batch_size: int(1, 1 << 20)
    .default(8192)
    .describe('rows per session.run'),
  min_rows: int(0).default(1).describe('a partition with fewer rows fails instead of publishing a thin day'),
  bad_rows: badRowsSchema.optional(),
  fallback: bool().default(false).describe("unknown users get this run's most popular items from the lookup API"),
  schedule: scheduleSchema.optional().describe('when `batchcast schedule` runs the job'),
  retention: retentionSchema.optional(),
  workers: int(1, 64).optional().describe('inference worker threads (overrides config)'),
  intra_op_threads: int(1, 256).optional().describe('ONNX Runtime intra-op threads per worker (overrides config)'),
  gates: gatesSchema.optional(),
  expectations: expectationsSchema.optional().describe("checks on each date's inputs, run as gates: a broken one holds the day"),
});

export type JobFile = z.output<typeof jobFileSchema>;

/**
 * schema/job.schema.json: what a job file may hold, for editors (completion, checks while typing).
 * JSON Schema draft-07: the version editors support most widely (VS Code's JSON support among them).
 */
export function jobJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(jobFileSchema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    title: 'batchcast job',
    description: 'A job file in jobs/: what batchcast predict runs. See docs/jobs.md.',
  };
}
