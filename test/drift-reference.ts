// PSI and Jensen–Shannon distance computed a second way, straight from raw feature values, for the tests to
// hold the stored figures against. Written from the definitions, not from src/guard: a value per row, a bin
// found by scanning, shares, the sums.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';

export const EPSILON = 1e-4;

/** Which bin a value falls in, for bins described as in store/profiles.ts `Bins` (null/NaN/Inf: the last one). */
function binOf(kind: 'values' | 'ranges', edges: number[], v: number | null): number {
  const n = kind === 'values' ? edges.length + 1 : 2 * edges.length + 1;
  if (v === null || !Number.isFinite(v)) return n;
  if (kind === 'values') {
    const j = edges.indexOf(v);
    return j < 0 ? edges.length : j;
  }
  for (let j = 0; j < edges.length; j++) {
    if (v < edges[j]) return 2 * j;
    if (v === edges[j]) return 2 * j + 1;
  }
  return 2 * edges.length;
}

export function countOn(kind: 'values' | 'ranges', edges: number[], values: (number | null)[]): number[] {
  const counts = new Array<number>((kind === 'values' ? edges.length + 1 : 2 * edges.length + 1) + 1).fill(0);
  for (const v of values) counts[binOf(kind, edges, v)]++;
  return counts;
}

/**
 * [actual, expected] counts on the bins a comparison is judged on, from their definition in
 * docs/guardrails.md: values bins as counted; for ranges, an edge holding at least 1% (and at least 2) of
 * the reference's finite values is a bin of its own, every other edge but the minimum and the maximum opens a
 * range [e, next), and the ends are open. Bins are labelled by their lower bound, both sides counted by label.
 */
export function judgedCounts(
  kind: 'values' | 'ranges',
  edges: number[],
  now: (number | null)[],
  ref: (number | null)[],
): [number[], number[]] {
  if (kind === 'values') return [countOn(kind, edges, now), countOn(kind, edges, ref)];
  const finite = ref.filter((v): v is number => v !== null && Number.isFinite(v));
  const mass = edges.filter((e) => finite.filter((v) => v === e).length >= Math.max(2, 0.01 * finite.length));
  const cuts = edges.filter((e, i) => !mass.includes(e) && i > 0 && i < edges.length - 1);
  const label = (v: number | null) => {
    if (v === null || !Number.isFinite(v)) return 'missing';
    if (mass.includes(v)) return `=${v}`;
    const cut = Math.max(-Infinity, ...cuts.filter((c) => c <= v));
    const point = Math.max(-Infinity, ...mass.filter((m) => m < v));
    return cut > point ? `[${cut}` : point > -Infinity ? `(${point}` : 'below';
  };
  const tally = (xs: (number | null)[]) => {
    const m = new Map<string, number>();
    for (const v of xs) m.set(label(v), (m.get(label(v)) ?? 0) + 1);
    return m;
  };
  const [a, e] = [tally(now), tally(ref)];
  const labels = [...new Set([...a.keys(), ...e.keys()])];
  return [labels.map((l) => a.get(l) ?? 0), labels.map((l) => e.get(l) ?? 0)];
}

const sharesOf = (c: number[]) => {
  const t = c.reduce((a, b) => a + b, 0);
  return c.map((x) => (t ? x / t : 0));
};

export function psi(actualCounts: number[], expectedCounts: number[]): number {
  const a = sharesOf(actualCounts);
  const e = sharesOf(expectedCounts);
  return a.reduce((s, ai, i) => s + (ai + EPSILON - (e[i] + EPSILON)) * Math.log((ai + EPSILON) / (e[i] + EPSILON)), 0);
}

export function js(aCounts: number[], bCounts: number[]): number {
  const p = sharesOf(aCounts);
  const q = sharesOf(bCounts);
  if (!p.some(Boolean) || !q.some(Boolean)) return p.some(Boolean) === q.some(Boolean) ? 0 : 1;
  let d = 0;
  p.forEach((pi, i) => {
    const m = (pi + q[i]) / 2;
    if (pi) d += 0.5 * pi * Math.log2(pi / m);
    if (q[i]) d += 0.5 * q[i] * Math.log2(q[i] / m);
  });
  return Math.sqrt(Math.max(0, d));
}

/**
 * The textbook PSI of a continuous feature: the reference's exact deciles (from its sorted values) as edges,
 * [d_i, d_i+1) bins, both sides counted. What the stored PSI must come within 5% of.
 */
export function decilePsi(now: number[], ref: number[]): number {
  const sorted = [...ref].sort((a, b) => a - b);
  const edges = [...new Set(Array.from({ length: 9 }, (_, i) => sorted[Math.floor(((i + 1) * sorted.length) / 10)]))];
  const bin = (v: number) => edges.filter((e) => v >= e).length;
  const count = (xs: number[]) => {
    const c = new Array<number>(edges.length + 1).fill(0);
    for (const v of xs) c[bin(v)]++;
    return c;
  };
  return psi(count(now), count(ref));
}

/** Every value of each named column of a date's Parquet files, as DuckDB reads them (FLOAT -> DOUBLE, NULL as null). */
export async function readColumns(dir: string, columns: string[]): Promise<Map<string, (number | null)[]>> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.parquet'))
    .map((f) => path.join(dir, f));
  return withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(
      `SELECT ${columns.map((c) => `"${c}"::DOUBLE`).join(', ')} FROM read_parquet([${files.map(sqlString).join(', ')}])`,
    );
    const rows = r.getRows();
    return new Map(columns.map((c, j) => [c, rows.map((row) => (row[j] === null ? null : Number(row[j])))]));
  });
}
