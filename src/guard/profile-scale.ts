// The figures the unit-error gate (scale-ratio.ts) needs from a feature, computed in the input profile's sampled
// DuckDB pass: the share of zeros, and the 10th, 50th and 90th percentiles of the non-zero values.
// Kept apart from profile-inputs.ts so the profile's other figures can change without touching the gate.
import type { FeatureScale } from '../store/profiles.ts';

/** The aggregates for one feature's column `v` (finite values, NULL otherwise): two per feature. */
export function scaleSelects(v: string): string[] {
  // one t-digest over the non-zero values only (NULLs are skipped by aggregates): zeros are counted apart,
  // so a feature that is mostly zero still has percentiles of what is not
  return [`count_if(${v} = 0)`, `approx_quantile(CASE WHEN ${v} <> 0 THEN ${v} END, [0.1, 0.5, 0.9])`];
}

/** The figures from the two aggregates of scaleSelects, given the feature's finite count in the sample. */
export function readScale(zeros: unknown, quantiles: unknown, finite: number): FeatureScale {
  const q = ((quantiles as { items?: unknown[] } | null)?.items ?? []).map(Number);
  return {
    zeroShare: finite ? Number(zeros) / finite : 0,
    nonzero: q.length === 3 ? { p10: q[0], p50: q[1], p90: q[2] } : null,
  };
}
