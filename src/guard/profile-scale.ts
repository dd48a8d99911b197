// The figures the unit-error gate (scale-ratio.ts) needs from a feature, computed in the input profile's sampled
// DuckDB pass: the share of zeros, and the 10th, 50th and 90th percentiles of the non-zero values.
// Kept apart from profile-inputs.ts so the profile's other figures can change without touching the gate.
import type { FeatureScale } from '../store/profiles.ts';

/**
 * Rows the percentiles of the non-zero values are computed on, at most. A second t-digest per feature over the
 * profile's whole 100k-row sample doubled that pass (11 demo features: 198 -> 357 ms, best of 15, on a busy
 * machine); over 10k rows it costs a tenth of that. p10 and p90 of 10k values are off by about 0.3% of rank,
 * nothing against a threshold of 5.
 */
export const SCALE_SAMPLE_ROWS = 10_000;

/** The column of the profile's projection that marks the rows of the scale sample; see scaleSampleColumn. */
export const SCALE_SAMPLE = 'in_scale_sample';

/**
 * The projection that marks a deterministic sub-sample of the profile's rows, chosen by the same hash of the
 * user id as the profile's own sample (so a subset of it): `rows` is the partition's row count.
 */
export function scaleSampleColumn(userIdSql: string, rows: number): string {
  const cut = Math.floor(Math.min(1, SCALE_SAMPLE_ROWS / Math.max(1, rows)) * 1_000_000);
  return `hash(${userIdSql}::VARCHAR) % 1000000 < ${cut} AS ${SCALE_SAMPLE}`;
}

/** The aggregates for one feature's column `v` (finite values, NULL otherwise): two per feature. */
export function scaleSelects(v: string): string[] {
  // zeros counted over the whole sample; the t-digest over the non-zero values of the scale sample only
  // (NULLs are skipped by aggregates), so a feature that is mostly zero still has percentiles of what is not
  return [`count_if(${v} = 0)`, `approx_quantile(CASE WHEN ${SCALE_SAMPLE} AND ${v} <> 0 THEN ${v} END, [0.1, 0.5, 0.9])`];
}

/** The figures from the two aggregates of scaleSelects, given the feature's finite count in the sample. */
export function readScale(zeros: unknown, quantiles: unknown, finite: number): FeatureScale {
  const q = ((quantiles as { items?: unknown[] } | null)?.items ?? []).map(Number);
  return {
    zeroShare: finite ? Number(zeros) / finite : 0,
    nonzero: q.length === 3 ? { p10: q[0], p50: q[1], p90: q[2] } : null,
  };
}
