// A feature's bins (store/profiles.ts `Bins`): which bins a run gets from its own sample, the SQL that puts a
// value in a bin, and the counts read back from DuckDB's histogram(). Every count is exact over the sample,
// on both sides of a comparison, so identical inputs give identical counts and a PSI of exactly 0.
import type { Bins } from '../store/profiles.ts';

/** A finite double as a DuckDB literal that parses back to the same double (a bare 0.1 would be a DECIMAL). */
const lit = (e: number) => `'${e}'::DOUBLE`;

/** SQL giving the bin index of `v` (a DOUBLE, NULL when not finite): -1 for NULL, then as in `Bins`. */
export function binIndexSql(kind: Bins['kind'], edges: number[], v: string): string {
  const arms =
    kind === 'values'
      ? edges.map((e, j) => `WHEN ${v} = ${lit(e)} THEN ${j}`)
      : edges.flatMap((e, j) => [`WHEN ${v} < ${lit(e)} THEN ${2 * j}`, `WHEN ${v} = ${lit(e)} THEN ${2 * j + 1}`]);
  const other = kind === 'values' ? edges.length : 2 * edges.length;
  return `CASE WHEN ${v} IS NULL THEN -1 ${arms.join(' ')} ELSE ${other} END`;
}

/** A DuckDB MAP (histogram()'s result) as [key, count] pairs. */
export function mapEntries(m: unknown): [number, number][] {
  const entries = (m as { entries?: { key: unknown; value: unknown }[] } | null)?.entries ?? [];
  return entries.map((e) => [Number(e.key), Number(e.value)]);
}

/** Counts per bin from histogram(binIndexSql(...)): the bins in order, then the rows with no finite value. */
export function binCounts(kind: Bins['kind'], edges: number[], histogram: unknown): Bins {
  const n = kind === 'values' ? edges.length + 1 : 2 * edges.length + 1;
  const counts = new Array<number>(n + 1).fill(0);
  for (const [bin, c] of mapEntries(histogram)) counts[bin < 0 ? n : bin] += c;
  return { kind, edges, counts };
}

/**
 * Bins for a feature with `valueCounts` (histogram(v): its finite values and their counts) when it has at
 * most `maxValues` distinct ones: one bin per value. Null when it has more.
 */
export function valueBins(valueCounts: unknown, missing: number, maxValues: number): Bins | null {
  const pairs = mapEntries(valueCounts).sort((a, b) => a[0] - b[0]);
  if (pairs.length > maxValues) return null;
  return { kind: 'values', edges: pairs.map(([v]) => v), counts: [...pairs.map(([, c]) => c), 0, missing] };
}

/** Range edges of a continuous feature: its minimum, deciles and maximum, each once. */
export function rangeEdges(min: number | null, deciles: number[], max: number | null): number[] {
  const points = [...deciles, ...(min === null ? [] : [min]), ...(max === null ? [] : [max])];
  return [...new Set(points.filter(Number.isFinite))].sort((a, b) => a - b);
}

/** Whether a run's counts were taken on exactly these bins. */
export function sameBins(a: Pick<Bins, 'kind' | 'edges'>, b: Pick<Bins, 'kind' | 'edges'>): boolean {
  return a.kind === b.kind && a.edges.length === b.edges.length && a.edges.every((e, i) => e === b.edges[i]);
}
