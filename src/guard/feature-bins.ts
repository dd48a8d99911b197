// A feature's bins (store/profiles.ts `Bins`): which bins a run gets from its own sample, and the exact count
// of a sorted sample in any bins, by binary search. Every count is exact over the sample, on both sides of a
// comparison, so identical inputs give identical counts and a PSI of exactly 0.
import type { Bins } from '../store/profiles.ts';

/** How many values of ascending `sorted` are < v (strict) or <= v. */
function rank(sorted: Float64Array, v: number, orEqual: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v || (orEqual && sorted[mid] === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The finite values `sorted` (ascending) counted on bins `kind` / `edges`, with `missing` non-finite rows last. */
export function countOn(sorted: Float64Array, kind: Bins['kind'], edges: number[], missing: number): Bins {
  const n = sorted.length;
  const counts: number[] = [];
  if (kind === 'values') {
    let matched = 0;
    for (const e of edges) {
      const c = rank(sorted, e, true) - rank(sorted, e, false);
      counts.push(c);
      matched += c;
    }
    counts.push(n - matched);
  } else {
    let below = 0; // values <= the previous edge
    for (const e of edges) {
      const lt = rank(sorted, e, false);
      const le = rank(sorted, e, true);
      counts.push(lt - below, le - lt);
      below = le;
    }
    counts.push(n - below);
  }
  counts.push(missing);
  return { kind, edges, counts };
}

/** The distinct values of ascending `sorted`, or null when there are more than `max`. */
function distinctValues(sorted: Float64Array, max: number): number[] | null {
  const out: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i && sorted[i] === sorted[i - 1]) continue;
    if (out.length === max) return null;
    out.push(sorted[i]);
  }
  return out;
}

/**
 * A run's own bins: one per value when its sample has at most `maxValues` distinct finite values (booleans,
 * codes, ratings, a few temperatures), each seen twice on average: 15 rows with 15 values are a continuous
 * feature of a small job, not 15 codes, or every value the next day would be "other". Else ranges between
 * its minimum, its deciles (values of the sample, so a value holding 10% or more of the rows is a decile)
 * and its maximum, each edge a bin of its own.
 */
export function ownBins(sorted: Float64Array, deciles: number[], maxValues: number, missing: number): Bins {
  const values = distinctValues(sorted, Math.min(maxValues, Math.floor(sorted.length / 2)));
  if (values) return countOn(sorted, 'values', values, missing);
  const edges = [...new Set([sorted[0], ...deciles, sorted[sorted.length - 1]])].sort((a, b) => a - b);
  return countOn(sorted, 'ranges', edges, missing);
}

/** Whether a run's counts were taken on exactly these bins. */
export function sameBins(a: Pick<Bins, 'kind' | 'edges'>, b: Pick<Bins, 'kind' | 'edges'>): boolean {
  return a.kind === b.kind && a.edges.length === b.edges.length && a.edges.every((e, i) => e === b.edges[i]);
}

/**
 * A value holding at least this share of the reference's finite sample is a point mass (the zero of a
 * mostly-zero feature, a common code): its edge keeps a bin of its own when runs are compared.
 */
export const POINT_MASS_SHARE = 0.01;

/**
 * The bins a comparison is judged on, as groups of `ref`'s bin indices. For ranges, an edge that is no point
 * mass in the reference opens the range [e, next edge), and the minimum and the maximum close no range (the
 * open ends join their neighbours): a continuous feature is judged on its deciles, so two samples of one
 * distribution differ by sampling noise only. Counted apart, every edge of a continuous feature is a bin the
 * reference holds once and a new sample almost never: two uniform samples of 200 rows gave PSI 0.33 (median
 * of 20, max 0.50, over the 0.25 drift threshold) against 0.09 (max 0.20) judged on deciles; at 2,000 rows
 * 0.020 against 0.009 (/tmp script, 20 pairs each). Values bins are judged as they are.
 */
export function judgedGroups(ref: Pick<Bins, 'kind' | 'edges' | 'counts'>): number[][] {
  const n = ref.counts.length;
  if (ref.kind !== 'ranges') return ref.counts.map((_, i) => [i]);
  const finite = ref.counts.slice(0, -1).reduce((a, b) => a + b, 0);
  const mass = Math.max(2, POINT_MASS_SHARE * finite);
  const groups: number[][] = [];
  let current = [0]; // (-inf, e0)
  const last = ref.edges.length - 1;
  ref.edges.forEach((_, i) => {
    const [point, above] = [2 * i + 1, 2 * i + 2];
    if (ref.counts[point] >= mass) {
      groups.push(current, [point]);
      current = [above];
    } else if (i === 0 || i === last)
      current.push(point, above); // the minimum and the maximum close no range
    else {
      groups.push(current);
      current = [point, above]; // [e_i, e_i+1)
    }
  });
  groups.push(current, [n - 1]); // the last range, then the missing values
  return groups;
}

/** Counts summed over judgedGroups. */
export function judgedCounts(counts: number[], groups: number[][]): number[] {
  return groups.map((g) => g.reduce((s, i) => s + counts[i], 0));
}
