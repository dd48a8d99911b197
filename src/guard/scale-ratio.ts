// The unit-error gate's measure: by what factor a feature's scale moved against the reference, either way
// (x1000 and /1000 are both unit errors). The scale is the interdecile range (p90 - p10) of the feature's
// non-zero values (the magnitude of their median when one day has no spread); what cannot be judged is named.
//
// Why this measure, with numbers (30 consecutive demo days, 5 seeds, 150 day pairs; and the test fixtures):
// - Standard deviations were the first measure: one outlier moves them, and x100 in float32 gave
//   99.99999968, under a threshold of exactly 100 (issue 26). Percentiles ignore the tails.
// - The spread (p90 - p10), not a magnitude (median of |x|): temp_c is 1 °C one day and 15 °C the next,
//   so its median |x| moves 8.8x between ordinary days, while its spread moves at most 2.3x.
// - Of the non-zero values, whatever the zero share: rain_mm is 0 for 25% to 100% of users, so its p10 and
//   even p75 are often 0 (an IQR of 0 says nothing). A unit error multiplies every value and keeps zeros at
//   zero, so the non-zero values are compared even when the zero share moved (60% -> 63% zeros with x100).
// - No spread on one day (values 1 and 2: p10 = p90 one day): the ratio of the non-zero medians' magnitudes.
//   Such a ratio (and the one of a feature constant on both days: day_of_week 7 on Sunday, 1 on Monday)
//   counts only near a power of ten or under 2; otherwise the feature is listed as not judged, with why.
// Ordinary demo days: at most 2.29 (temp_c); every other non-exempt demo feature 1.00. x10 and /10 give 10 on
// every feature whose zero share is steady. Hence the default threshold 5: a factor 2 above the worst
// ordinary day and 2 below the smallest unit error, and no power of ten on the boundary.
// rain_mm is the exception a ratio cannot judge: one district's 0.3 mm drizzle then another's 3.5 mm gives
// 11x with every figure of one day; the demo job leaves it out (scale_ratio_skip_features) and bounds it
// with an expectation instead.
import type { FeatureProfile } from '../store/profiles.ts';

/** The default of gates.max_feature_scale_ratio: see the file comment for why 5. */
export const DEFAULT_MAX_SCALE_RATIO = 5;
/** A magnitude ratio (no spread to compare) counts only this close to a power of ten: 7 (Sunday 7 -> Monday 1) is not a unit. */
export const POWER_OF_TEN_WINDOW = 1.25;

export interface ScaleRatio {
  feature: string;
  /** now / reference: above 1 the feature grew, below 1 it shrank */
  factor: number;
  /** max(factor, 1 / factor) */
  ratio: number;
}

/** A feature the gate could not judge, and why (listed in the verdict's detail). */
export interface Unjudged {
  feature: string;
  why: string;
}

/** Within POWER_OF_TEN_WINDOW of 10, 100, 1000 (or their inverses), or under 2 (no unit error either way). */
function unitLike(factor: number): boolean {
  const r = Math.max(factor, 1 / factor);
  if (r < 2) return true;
  const k = Math.round(Math.log10(r));
  return k >= 1 && k <= 3 && Math.max(r / 10 ** k, 10 ** k / r) <= POWER_OF_TEN_WINDOW;
}

/** now / reference of one feature's scale, or why it cannot be judged (see the file comment). */
export function judgeScale(now: FeatureProfile, ref: FeatureProfile): { factor: number } | { why: string } {
  if (!now.scale || !ref.scale) {
    // a reference profiled before the scale figures existed: the standard deviations, as before
    return now.std && ref.std ? { factor: now.std / ref.std } : { why: 'no scale figures in the reference' };
  }
  // The zero share may move (counts, activity): a unit error keeps zeros at zero and scales the rest, so the
  // non-zero values are compared whatever their share.
  const a = now.scale.nonzero;
  const b = ref.scale.nonzero;
  if (!a && !b) return { factor: 1 }; // all zero both days: zeros have no unit
  if (!a || !b) return { why: a ? 'all zero in the reference' : 'all zero' };
  const spreadNow = a.p90 - a.p10;
  const spreadRef = b.p90 - b.p10;
  if (spreadNow > 0 && spreadRef > 0) return { factor: spreadNow / spreadRef };
  // One side (or both) has no spread (values 1 and 2; one value for everyone): the magnitudes, |p50|, or the
  // largest of |p10|, |p90| when the medians' signs differ. Only a ratio near a power of ten is a unit.
  const magnitude = (q: { p10: number; p50: number; p90: number }) =>
    Math.sign(a.p50) === Math.sign(b.p50) ? Math.abs(q.p50) : Math.max(Math.abs(q.p10), Math.abs(q.p90));
  const factor = magnitude(a) / magnitude(b);
  if (!Number.isFinite(factor) || factor <= 0) return { why: 'no magnitude to compare' };
  if (unitLike(factor)) return { factor };
  const constant = spreadNow === 0 && spreadRef === 0 ? 'one value each day' : 'no spread on one day';
  return { why: `${constant}, moved ${factor >= 1 ? 'x' : '/'}${short(Math.max(factor, 1 / factor))}, not a power of ten` };
}

/** now / reference of one feature's scale, or null when it cannot be judged. */
export function scaleFactor(now: FeatureProfile, ref: FeatureProfile): number | null {
  const j = judgeScale(now, ref);
  return 'factor' in j ? j.factor : null;
}

/** Every judged feature's scale ratio, worst first, and the features not judged; `skip` names features left out by the job. */
export function judgeScales(
  now: FeatureProfile[],
  ref: Map<string, FeatureProfile>,
  skip: ReadonlySet<string>,
): { ratios: ScaleRatio[]; unjudged: Unjudged[] } {
  const ratios: ScaleRatio[] = [];
  const unjudged: Unjudged[] = [];
  for (const f of now) {
    const r = ref.get(f.name);
    if (!r || skip.has(f.name)) continue;
    const j = judgeScale(f, r);
    if ('why' in j) unjudged.push({ feature: f.name, why: j.why });
    else if (Number.isFinite(j.factor) && j.factor > 0)
      ratios.push({ feature: f.name, factor: j.factor, ratio: Math.max(j.factor, 1 / j.factor) });
    else unjudged.push({ feature: f.name, why: 'no spread to compare' });
  }
  return { ratios: ratios.sort((x, y) => y.ratio - x.ratio), unjudged };
}

/** Every judged feature's scale ratio, worst first; `skip` names features left out by the job. */
export function scaleRatios(now: FeatureProfile[], ref: Map<string, FeatureProfile>, skip: ReadonlySet<string>): ScaleRatio[] {
  return judgeScales(now, ref, skip).ratios;
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

/** "; not judged: f07 (all zero), f09 (one value each day, moved x7, not a power of ten)": at most 5, then a count. */
export function describeUnjudged(unjudged: Unjudged[]): string {
  if (!unjudged.length) return '';
  const more = unjudged.length > 5 ? ` and ${unjudged.length - 5} more` : '';
  return `; not judged: ${unjudged
    .slice(0, 5)
    .map((u) => `${u.feature} (${u.why})`)
    .join(', ')}${more}`;
}
