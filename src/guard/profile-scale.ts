// The figures the unit-error gate (scale-ratio.ts) needs from a feature: the share of zeros, and the 10th,
// 50th and 90th percentiles of the non-zero values. Computed from the profile's sorted sample (profile-inputs.ts
// sorts each feature's sampled values once for its deciles and bins), so they are exact and cost one pass.
// Kept apart from profile-inputs.ts so the profile's other figures can change without touching the gate.
import type { FeatureScale } from '../store/profiles.ts';

/** The scale of one feature from its finite sampled values, sorted ascending. */
export function featureScale(sorted: Float64Array): FeatureScale {
  const n = sorted.length;
  // zeros (and -0) form one block in a sorted array: [from, to)
  let from = 0;
  while (from < n && sorted[from] < 0) from++;
  let to = from;
  while (to < n && sorted[to] === 0) to++;
  const zeros = to - from;
  const nonzero = n - zeros;
  if (!nonzero) return { zeroShare: n ? 1 : 0, nonzero: null };
  // nearest rank over the non-zero values: the negatives, then the positives after the zero block
  const at = (p: number) => {
    const r = Math.max(0, Math.ceil(p * nonzero) - 1);
    return r < from ? sorted[r] : sorted[r + zeros];
  };
  return { zeroShare: zeros / n, nonzero: { p10: at(0.1), p50: at(0.5), p90: at(0.9) } };
}
