// The drift measures the guardrails judge a run by, as plain functions of profiles and lists: PSI and the
// Jensen–Shannon distance of a feature, from this run's exact counts on the reference's bins against the
// reference's own exact counts; the JS distance of two count vectors, and rank-biased overlap of two top-K
// lists. No database here: compare-runs.ts feeds them.
import type { Bins, FeatureProfile, OutputProfile } from '../store/profiles.ts';
import { judgedCounts, judgedGroups, sameBins } from './feature-bins.ts';

/** Sorted distinct decile cut points: the bins of profiles stored before exact bins existed. */
function binEdges(deciles: number[]): number[] {
  return [...new Set(deciles)].sort((a, b) => a - b);
}

/** Added to every bin share before the log, so an empty bin gives a large but finite PSI (at most ~9.2 per bin). */
export const PSI_EPSILON = 1e-4;
/** Rank-biased overlap persistence: the top 10 ranks carry about 86% of the weight. */
export const RBO_P = 0.9;

/**
 * For profiles stored before exact bins: P(X < e) for each edge, estimated from a profile's quantile points (min, p1, p5, deciles, ..., p99, max),
 * linearly between points. Exact at the points for continuous features; off by at most one quantile step
 * (5%) for a value with a point mass.
 */
function cdfBelow(f: FeatureProfile, edges: number[]): number[] {
  if (f.min === null || f.max === null || !f.quantiles) return edges.map(() => 0);
  const q = f.quantiles;
  const points: [number, number][] = [
    [0, f.min],
    [0.01, q.p1],
    [0.05, q.p5],
    [0.25, q.p25],
    [0.5, q.p50],
    [0.75, q.p75],
    [0.95, q.p95],
    [0.99, q.p99],
    [1, f.max],
  ];
  f.deciles.forEach((d, i) => points.push([(i + 1) / 10, d]));
  points.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < points.length; i++) points[i][1] = Math.max(points[i][1], points[i - 1][1]); // approximate quantiles may cross
  return edges.map((e) => {
    if (e <= points[0][1]) return 0;
    if (e > points[points.length - 1][1]) return 1;
    const j = points.findIndex(([, v]) => v >= e);
    const [q0, v0] = points[j - 1];
    const [q1, v1] = points[j];
    return v1 > v0 ? q0 + ((e - v0) / (v1 - v0)) * (q1 - q0) : q1;
  });
}

/** Shares of the bins (-inf, e0), [e0, e1), ..., [e_last, +inf) from P(X < e). */
function binShares(below: number[]): number[] {
  return [...below, 1].map((c, i) => Math.max(0, c - (i ? below[i - 1] : 0)));
}

/** Shares of a count vector (all 0 when it is empty). */
function shares(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : 0));
}

/** PSI of two share vectors of the same bins, PSI_EPSILON added to every share: 0 when they are equal. */
export function psiOfShares(actual: number[], expected: number[]): number {
  let psi = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] + PSI_EPSILON;
    const e = expected[i] + PSI_EPSILON;
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

export interface FeatureDrift {
  psi: number;
  js: number;
  kind?: Bins['kind'];
  /** true when both sides are exact counts on the reference's bins */
  exact: boolean;
}

/**
 * PSI and JS distance of `now` against `ref` on the reference's bins: exact when `now` was counted on them
 * (its profile was made against `ref`); else, for profiles from before exact bins or a run profiled against
 * another reference, shares estimated from the two profiles' quantiles on the reference's deciles.
 * Null when neither is possible (the reference has no bins and no finite values).
 */
export function featureDrift(now: FeatureProfile, ref: FeatureProfile, refRunId: number, nowRefRunId: number | null): FeatureDrift | null {
  const h = now.histogram;
  if (ref.bins && h?.kind && nowRefRunId === refRunId && sameBins(h, ref.bins)) {
    return { ...exactDrift(h, ref.bins), kind: ref.bins.kind, exact: true };
  }
  if (!ref.deciles.length) return null;
  const edges = binEdges(ref.deciles);
  const expected = binShares(cdfBelow(ref, edges));
  const actual = binShares(cdfBelow(now, edges));
  return { psi: psiOfShares(actual, expected), js: jsDistance(actual, expected), exact: false };
}

/** The rank-1 score's PSI and JS distance, when `now` was counted on the reference's bins (`countedOnRef`). */
export function scoreDrift(now: OutputProfile, ref: OutputProfile, countedOnRef: boolean): { psi: number; js: number } | undefined {
  const h = now.top1Histogram;
  if (!countedOnRef || !ref.top1Bins || !h || !sameBins(h, ref.top1Bins)) return undefined;
  return exactDrift(h, ref.top1Bins);
}

/** PSI and JS distance of exact counts on the reference's bins, judged on judgedGroups (feature-bins.ts). */
function exactDrift(now: Bins, ref: Bins): { psi: number; js: number } {
  const groups = judgedGroups(ref);
  const a = judgedCounts(now.counts, groups);
  const e = judgedCounts(ref.counts, groups);
  return { psi: psiOfShares(shares(a), shares(e)), js: jsDistance(a, e) };
}

/** Jensen–Shannon distance, base 2, in [0, 1], of two count vectors (padded to the same length). */
export function jsDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.max(a.length, b.length);
  const sa = Array.from(a).reduce((x, y) => x + y, 0);
  const sb = Array.from(b).reduce((x, y) => x + y, 0);
  if (!sa || !sb) return sa === sb ? 0 : 1;
  let js = 0;
  for (let i = 0; i < n; i++) {
    const p = (a[i] ?? 0) / sa;
    const q = (b[i] ?? 0) / sb;
    const m = (p + q) / 2;
    if (p > 0) js += 0.5 * p * Math.log2(p / m);
    if (q > 0) js += 0.5 * q * Math.log2(q / m);
  }
  return Math.sqrt(Math.max(0, Math.min(1, js)));
}

/**
 * Extrapolated rank-biased overlap (Webber et al. 2010, eq. 32) of two lists cut to the same depth, and their
 * overlap: 1 when identical. `depth` (default the shorter length) cuts both lists.
 * Up to 64 ranks the agreement at each depth is counted by scanning the prefixes (no Set per list: 100k
 * users x two Sets was half the comparison's JavaScript time); past that, with Sets.
 */
export function rbo<T>(
  a: ArrayLike<T>,
  b: ArrayLike<T>,
  p = RBO_P,
  depth = Math.min(a.length, b.length),
): { overlap: number; rbo: number } {
  const k = Math.min(depth, a.length, b.length);
  if (!k) return { overlap: 0, rbo: 0 };
  const seenA = k > 64 ? new Set<T>() : null;
  const seenB = k > 64 ? new Set<T>() : null;
  const inPrefix = (list: ArrayLike<T>, seen: Set<T> | null, v: T, d: number) => {
    if (seen) return seen.has(v);
    for (let j = 0; j < d - 1; j++) if (list[j] === v) return true;
    return false;
  };
  let x = 0;
  let sum = 0;
  let w = 1;
  for (let d = 1; d <= k; d++) {
    const ia = a[d - 1];
    const ib = b[d - 1];
    if (ia === ib) x++;
    else {
      if (inPrefix(b, seenB, ia, d)) x++;
      if (inPrefix(a, seenA, ib, d)) x++;
    }
    seenA?.add(ia);
    seenB?.add(ib);
    w *= p;
    sum += (x / d) * w;
  }
  return { overlap: x / k, rbo: (x / k) * w + ((1 - p) / p) * sum };
}
