// The shapes stored in batchcast.run_profiles, run_comparisons and gate_verdicts (sql/004_guardrails.sql).
// Profiles are computed once per run and never change: a generation never changes after it is written.

/** Percentiles 0, 1, ..., 100 (101 values), so any histogram can be drawn from them later. */
export type Percentiles = number[];

export interface Histogram {
  /** bin edges, ascending; counts has edges.length + 1 entries: (-inf, e0), [e0, e1), ..., [e_last, +inf) */
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
  /** this run's own decile cut points (9 values): the bins a later run is compared on */
  deciles: number[];
  /** counts over the reference's decile edges; null on a first run (no reference) */
  histogram: Histogram | null;
}

export interface InputProfile {
  rows: number;
  features: FeatureProfile[];
  /** the reference run whose deciles binned the histograms, if any */
  referenceRunId: number | null;
  /**
   * Added in issue 9 (optional, backward compatible): rows that mean, std, min, max, quantiles, deciles and
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
  /** per feature: population stability index on the reference's deciles */
  psi: { feature: string; psi: number }[];
  /** added to every bin share before the log, so an empty bin does not give infinity */
  psiEpsilon: number;
  /** the PSI above which a feature counts as drifted */
  psiDriftThreshold: number;
  driftedFeatureShare: number;
  /** Jensen–Shannon distance (base 2, in [0, 1]) between the two item-popularity distributions */
  itemJsDistance: number;
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
  kind: 'value' | 'change';
  /** null when the figure could not be computed (e.g. a change gate on a first run is skipped, not failed) */
  value: number | null;
  threshold: number;
  passed: boolean;
}
