// The unit-error gate's measure: by what factor a feature's scale moved against the reference, either way
// (x1000 and /1000 are both unit errors). The scale is the interdecile range (p90 - p10) of the feature's
// non-zero values, and a feature whose share of zeros moved is not judged.
//
// Why this measure, with numbers (30 consecutive demo days, 5 seeds, 150 day pairs; and the test fixtures):
// - Standard deviations were the first measure: one outlier moves them, and x100 in float32 gave
//   99.99999968, under a threshold of exactly 100 (issue 26). Percentiles ignore the tails.
// - The spread (p90 - p10), not a magnitude (median of |x|): temp_c is 1 °C one day and 15 °C the next,
//   so its median |x| moves 8.8x between ordinary days, while its spread moves at most 2.3x.
// - Of the non-zero values, with the zero share compared apart: rain_mm is 0 for 25% to 100% of users, so
//   its p10 and even p75 are often 0 (an IQR of 0 says nothing). A unit error multiplies every value and
//   keeps zeros at zero, so a moved zero share (rain in more districts) is new content, not a new unit.
// - A feature whose non-zero values are one constant on both days (is_weekend on Saturday and Sunday) has
//   no spread: then the ratio of the medians of those values.
// Ordinary demo days: at most 2.29 (temp_c); every other non-exempt demo feature 1.00. x10 and /10 give 10 on
// every feature whose zero share is steady. Hence the default threshold 5: a factor 2 above the worst
// ordinary day and 2 below the smallest unit error, and no power of ten on the boundary.
// rain_mm is the exception a ratio cannot judge: one district's 0.3 mm drizzle then another's 3.5 mm gives
// 11x with every figure of one day; the demo job leaves it out (scale_ratio_skip_features) and bounds it
// with an expectation instead.
import type { FeatureProfile } from '../store/profiles.ts';

/** The default of gates.max_feature_scale_ratio: see the file comment for why 5. */
export const DEFAULT_MAX_SCALE_RATIO = 5;
/** Zero shares further apart than this (absolute) mean the content changed, not the unit. */
export const ZERO_SHARE_TOLERANCE = 0.02;

export interface ScaleRatio {
  feature: string;
  /** now / reference: above 1 the feature grew, below 1 it shrank */
  factor: number;
  /** max(factor, 1 / factor) */
  ratio: number;
}

/** now / reference of one feature's scale, or null when it cannot be judged (see the file comment). */
export function scaleFactor(now: FeatureProfile, ref: FeatureProfile): number | null {
  if (!now.scale || !ref.scale) {
    // a reference profiled before the scale figures existed: the standard deviations, as before
    return now.std && ref.std ? now.std / ref.std : null;
  }
  if (Math.abs(now.scale.zeroShare - ref.scale.zeroShare) > ZERO_SHARE_TOLERANCE) return null;
  const a = now.scale.nonzero;
  const b = ref.scale.nonzero;
  if (!a || !b) return null;
  const spreadNow = a.p90 - a.p10;
  const spreadRef = b.p90 - b.p10;
  if (spreadNow > 0 && spreadRef > 0) return spreadNow / spreadRef;
  if (spreadNow === 0 && spreadRef === 0 && a.p50 !== 0 && b.p50 !== 0) return Math.abs(a.p50 / b.p50);
  return null; // a constant became spread out, or the reverse: a change of shape, for the other gates
}

/** Every judged feature's scale ratio, worst first; `skip` names features left out by the job. */
export function scaleRatios(now: FeatureProfile[], ref: Map<string, FeatureProfile>, skip: ReadonlySet<string>): ScaleRatio[] {
  const out: ScaleRatio[] = [];
  for (const f of now) {
    const r = ref.get(f.name);
    if (!r || skip.has(f.name)) continue;
    const factor = scaleFactor(f, r);
    if (factor === null || !Number.isFinite(factor) || factor <= 0) continue;
    out.push({ feature: f.name, factor, ratio: Math.max(factor, 1 / factor) });
  }
  return out.sort((x, y) => y.ratio - x.ratio);
}

const short = (x: number) => String(Number(x.toPrecision(3)));

/** "f03 x100, f05 /10": the features over the threshold, worst first (at most 5), with the factor they moved by; else the worst. */
export function describeScaleRatios(ratios: ScaleRatio[], threshold: number): string {
  const over = ratios.filter((r) => r.ratio > threshold);
  const shown = over.length ? over.slice(0, 5) : ratios.slice(0, 1);
  const more = over.length > 5 ? ` and ${over.length - 5} more` : '';
  const what = shown.map((r) => `${r.feature} ${r.factor >= 1 ? 'x' : '/'}${short(r.ratio)}`).join(', ');
  return `feature${shown.length > 1 ? 's' : ''} ${what}${more}`;
}
