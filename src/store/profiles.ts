// What the guardrails store per run, and the statements that store and read it: batchcast.run_profiles,
// run_comparisons and gate_verdicts (sql/004_guardrails.sql). Written once per run and never changed, since a
// generation never changes after it is written; read by compare, report and the job metrics.
import type { Queryable } from './queryable.ts';

/** Percentiles 0, 1, ..., 100 (101 values), so any histogram can be drawn from them later. */
export type Percentiles = number[];

/**
 * A feature's bins and the rows in each, counted exactly over the profile's sample (docs/guardrails.md, "Bins").
 * `values` (a discrete feature): one bin per value in `edges`, then one for any other finite value.
 * `ranges`: (-inf, e0), {e0}, (e0, e1), {e1}, ..., {e_last}, (e_last, +inf): every edge is a bin of its own, so a
 * point mass at an edge (the zero of a mostly-zero feature) is one bin.
 * Either way the last count is the rows with no finite value (NULL, NaN, Inf).
 */
export interface Bins {
  kind: 'values' | 'ranges';
  /** ascending */
  edges: number[];
  counts: number[];
}

/** Profiles stored before bins existed: counts over (-inf, e0), [e0, e1), ..., [e_last, +inf). */
export interface LegacyHistogram {
  kind?: undefined;
  edges: number[];
  counts: number[];
}

export interface FeatureProfile {
  name: string;
  rows: number;
  nulls: number;
  nans: number;
  /** +Inf and -Inf together */
  infs: number;
  /** over finite values; null when there are none */
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** p1, p5, p25, p50, p75, p95, p99 of the finite values */
  quantiles: { p1: number; p5: number; p25: number; p50: number; p75: number; p95: number; p99: number } | null;
  /** this run's own decile cut points (9 values), approximate (t-digest) */
  deciles: number[];
  /** this run's own bins, counted exactly: what a later run is compared with (absent in older profiles) */
  bins?: Bins;
  /** this run counted on the reference's bins; null on a first run (no reference) */
  histogram: Bins | LegacyHistogram | null;
  /** optional (profiles stored before the unit-error gate measured it have none): what that gate compares */
  scale?: FeatureScale;
}

/** A feature's scale for the unit-error gate (src/guard/scale-ratio.ts), over the sampled finite values. */
export interface FeatureScale {
  /** share of the finite values that are exactly 0 */
  zeroShare: number;
  /** percentiles of the non-zero values; null when every value is 0 (or none is finite) */
  nonzero: { p10: number; p50: number; p90: number } | null;
}

export interface InputProfile {
  rows: number;
  features: FeatureProfile[];
  /** the reference run whose deciles binned the histograms, if any */
  referenceRunId: number | null;
  /**
   * Optional (profiles stored before sampling have none): rows that mean, std, min, max, quantiles, deciles and
   * histograms were computed on, a deterministic sample of at most 100k; rows, nulls, nans and infs count every row.
   */
  sampledRows?: number;
}

export interface OutputProfile {
  rowsRead: number;
  usersScored: number;
  /** usersScored / rowsRead */
  scoredRatio: number;
  k: number;
  /** catalogue size */
  items: number;
  /** rank-1 score of each user */
  top1Percentiles: Percentiles;
  /** every stored score */
  scorePercentiles: Percentiles;
  /** the rank-1 score's own bins with exact counts over the same 10k-user sample (absent in older profiles) */
  top1Bins?: Bins;
  /** the rank-1 scores counted on the reference's top1Bins (null without a reference) */
  top1Histogram?: Bins | null;
  /** per item index: how many users have it in their top K */
  itemCounts: number[];
  /** distinct items recommended / items */
  catalogCoverage: number;
  /** Gini index of itemCounts (0 = every item equally often, 1 = one item only) */
  gini: number;
  /** share of all top-K slots taken by the most frequent item */
  topItemShare: number;
  topItemId: string | null;
}

export interface Comparison {
  runId: number;
  referenceRunId: number;
  /**
   * per feature: population stability index and Jensen–Shannon distance (base 2) of this run's counts on the
   * reference's bins against the reference's own counts; kind: the reference's bins (absent in older comparisons)
   */
  psi: { feature: string; psi: number; js?: number; kind?: Bins['kind'] }[];
  /** set when the PSI is not from exact counts on the reference's bins, saying why */
  psiNote?: string;
  /** added to every bin share before the log, so an empty bin does not give infinity */
  psiEpsilon: number;
  /** the PSI above which a feature counts as drifted */
  psiDriftThreshold: number;
  driftedFeatureShare: number;
  /** Jensen–Shannon distance (base 2, in [0, 1]) between the two item-popularity distributions */
  itemJsDistance: number;
  /** the rank-1 score's PSI and JS distance on the reference's bins, from exact counts (absent when not counted on them) */
  top1Score?: { psi: number; js: number };
  /** users present in both, sampled by a stable hash (up to 100k) */
  sampleUsers: number;
  meanOverlapAtK: number;
  /** rank-biased overlap, p = 0.9 */
  meanRbo: number;
  /** overlapHistogram[j] = sampled users whose two top-K lists share j items (j = 0..K) */
  overlapHistogram: number[];
  /** users now / users in the reference */
  usersRatio: number;
}

export interface GateVerdict {
  gate: string;
  /** expectation: an absolute check on the inputs from the job's `expectations` (src/guard/check-expectations.ts) */
  kind: 'value' | 'change' | 'expectation';
  /** null when the figure could not be computed (e.g. a change gate on a first run is skipped, not failed) */
  value: number | null;
  threshold: number;
  passed: boolean;
  /** what the value is about: the features worst first, or an expectation's column, observed value and bound (sql/010) */
  detail?: string | null;
}

/** A run's two profiles, as compared with another run's. */
export interface RunProfiles {
  runId: number;
  inputs: InputProfile;
  outputs: OutputProfile;
}

export async function saveProfiles(db: Queryable, runId: number, inputs: InputProfile, outputs: OutputProfile): Promise<void> {
  await db.query(
    `insert into batchcast.run_profiles (run_id, inputs, outputs) values ($1, $2, $3)
     on conflict (run_id) do update set inputs = excluded.inputs, outputs = excluded.outputs`,
    [runId, JSON.stringify(inputs), JSON.stringify(outputs)],
  );
}

export async function loadProfiles(db: Queryable, runId: number): Promise<RunProfiles | null> {
  const { rows } = await db.query<{ inputs: InputProfile; outputs: OutputProfile }>(
    'select inputs, outputs from batchcast.run_profiles where run_id = $1',
    [runId],
  );
  return rows[0] ? { runId, inputs: rows[0].inputs, outputs: rows[0].outputs } : null;
}

export async function saveComparison(db: Queryable, c: Comparison): Promise<void> {
  await db.query(
    `insert into batchcast.run_comparisons (run_id, reference_run_id, comparison) values ($1, $2, $3)
     on conflict (run_id, reference_run_id) do update set comparison = excluded.comparison, created_at = now()`,
    [c.runId, c.referenceRunId, JSON.stringify(c)],
  );
}

/** One statement for all verdicts of a run. */
export async function saveVerdicts(db: Queryable, runId: number, verdicts: GateVerdict[]): Promise<void> {
  if (!verdicts.length) return;
  await db.query(
    `insert into batchcast.gate_verdicts (run_id, gate, kind, value, threshold, passed, detail)
     select $1, * from unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::bool[], $7::text[])
     on conflict (run_id, gate) do update set kind = excluded.kind, value = excluded.value, threshold = excluded.threshold,
       passed = excluded.passed, detail = excluded.detail`,
    [
      runId,
      verdicts.map((v) => v.gate),
      verdicts.map((v) => v.kind),
      verdicts.map((v) => v.value),
      verdicts.map((v) => v.threshold),
      verdicts.map((v) => v.passed),
      verdicts.map((v) => v.detail ?? null),
    ],
  );
}

/**
 * A run's comparison for its report: with `referenceRunId` when given (null when it was never compared with
 * it), else with the run its own profile was binned on (`profiledAgainst`), else the first one stored.
 */
export async function loadComparison(
  db: Queryable,
  runId: number,
  o: { referenceRunId?: number; profiledAgainst: number | null },
): Promise<Comparison | null> {
  const wanted = o.referenceRunId ?? o.profiledAgainst;
  const { rows } = await db.query<{ comparison: Comparison }>(
    `select comparison from batchcast.run_comparisons
      where run_id = $1 and ($2::bigint is null or reference_run_id = $2 or $3)
      order by (reference_run_id = $2) desc nulls last, created_at limit 1`,
    [runId, wanted, o.referenceRunId === undefined],
  );
  return rows[0]?.comparison ?? null;
}

/** A run's gate verdicts, failed first; among them causes before symptoms, as src/guard/gates.ts causesFirst. */
export async function loadVerdicts(db: Queryable, runId: number): Promise<GateVerdict[]> {
  const { rows } = await db.query<GateVerdict>(
    `select gate, kind, value, threshold, passed, detail from batchcast.gate_verdicts where run_id = $1
      order by passed, kind = 'expectation' desc, gate = 'max_feature_scale_ratio' desc, coalesce(detail like 'feature%', false) desc, kind desc, gate`,
    [runId],
  );
  return rows;
}
