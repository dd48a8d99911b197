// SEEDED GUARD ROWS, FOR TESTS ONLY. Until the guard stage of issue 9 (profiles, comparison, gates; built in
// parallel on another branch) writes batchcast.run_profiles, run_comparisons and gate_verdicts itself, the
// report and metrics tests insert rows of the contract's shape (src/guard/types.ts) here. They are computed
// from the real things, not made up: the input profile from the run's Parquet partition (DuckDB), the output
// profile and the top-K overlap from the run's own predictions table (PostgreSQL). The formulas are the
// issue's (PSI on the reference's deciles, JS distance base 2, overlap@K, RBO p = 0.9 truncated at K), but
// this is not the product's implementation and is not tested as such.
import path from 'node:path';
import type pg from 'pg';
import type { Comparison, FeatureProfile, GateVerdict, InputProfile, OutputProfile } from '../src/guard/types.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import type { Fixture } from './fixtures.ts';

const EPS = 1e-4;
const DRIFT_PSI = 0.2;

const quantile = (sorted: number[], q: number) => {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
};

function binCounts(values: number[], edges: number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let b = 0;
    while (b < edges.length && v >= edges[b]) b++;
    counts[b]++;
  }
  return counts;
}

/** Feature columns of one date's partition, read with DuckDB from the fixture's Parquet files. */
export async function readPartition(fx: Fixture, date: string): Promise<number[][]> {
  const glob = path.join(fx.featuresDir, `dt=${date}`, '*.parquet');
  return withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(`select ${fx.featureNames.map((f) => `"${f}"::double`).join(', ')} from read_parquet(${sqlString(glob)})`);
    const rows = r.getRows() as (number | null)[][];
    return fx.featureNames.map((_, j) => rows.map((row) => row[j]).filter((v): v is number => v !== null));
  });
}

function profileFeature(name: string, values: number[], refDeciles: number[] | null): FeatureProfile {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  const mean = finite.reduce((a, b) => a + b, 0) / (finite.length || 1);
  const std = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, finite.length - 1));
  const q = (p: number) => quantile(finite, p);
  return {
    name, rows: values.length, nulls: 0, nans: values.filter(Number.isNaN).length, infs: values.filter((v) => v === Infinity || v === -Infinity).length,
    mean: finite.length ? mean : null, std: finite.length ? std : null, min: finite[0] ?? null, max: finite.at(-1) ?? null,
    quantiles: finite.length ? { p1: q(0.01), p5: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95), p99: q(0.99) } : null,
    deciles: Array.from({ length: 9 }, (_, i) => q((i + 1) / 10)),
    histogram: refDeciles ? { edges: refDeciles, counts: binCounts(finite, refDeciles) } : null,
  };
}

async function profileOutputs(pool: pg.Pool, fx: Fixture, runId: number): Promise<OutputProfile> {
  const levels = Array.from({ length: 101 }, (_, i) => i / 100);
  const { rows: [run] } = await pool.query('select rows_read, rows_written, k from batchcast.runs where run_id = $1', [runId]);
  const { rows: counts } = await pool.query<{ item_id: string; n: number }>(
    `select item_id, count(*)::int as n from batchcast.predictions, unnest(item_ids) as item_id where run_id = $1 group by 1`, [runId]);
  const { rows: [pct] } = await pool.query<{ top1: number[]; scores: number[] }>(
    `select (select percentile_cont($2::float8[]) within group (order by scores[1]) from batchcast.predictions where run_id = $1) as top1,
            (select percentile_cont($2::float8[]) within group (order by s) from batchcast.predictions, unnest(scores) s where run_id = $1) as scores`,
    [runId, levels]);
  const itemCounts = new Array<number>(fx.itemIds.length).fill(0);
  const index = new Map(fx.itemIds.map((id, i) => [id, i]));
  for (const c of counts) itemCounts[index.get(c.item_id)!] = c.n;
  const total = itemCounts.reduce((a, b) => a + b, 0);
  const sorted = [...itemCounts].sort((a, b) => a - b);
  const n = sorted.length;
  const gini = total ? sorted.reduce((a, c, i) => a + (2 * (i + 1) - n - 1) * c, 0) / (n * total) : 0;
  const top = itemCounts.indexOf(Math.max(...itemCounts));
  return {
    rowsRead: run.rows_read, usersScored: run.rows_written, scoredRatio: run.rows_written / run.rows_read, k: run.k, items: n,
    top1Percentiles: pct.top1, scorePercentiles: pct.scores, itemCounts,
    catalogCoverage: itemCounts.filter((c) => c > 0).length / n, gini, topItemShare: total ? itemCounts[top] / total : 0,
    topItemId: total ? fx.itemIds[top] : null,
  };
}

function jsDistance(a: number[], b: number[]): number {
  const sa = a.reduce((x, y) => x + y, 0) || 1;
  const sb = b.reduce((x, y) => x + y, 0) || 1;
  let d = 0;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const p = (a[i] ?? 0) / sa;
    const q = (b[i] ?? 0) / sb;
    const m = (p + q) / 2;
    if (p > 0) d += 0.5 * p * Math.log2(p / m);
    if (q > 0) d += 0.5 * q * Math.log2(q / m);
  }
  return Math.sqrt(Math.max(0, d));
}

async function compareRuns(pool: pg.Pool, runId: number, refId: number, inputs: InputProfile, refCounts: number[][],
  outputs: OutputProfile, refOutputs: OutputProfile): Promise<Comparison> {
  const psi = inputs.features.map((f, j) => {
    const a = f.histogram!.counts;
    const b = refCounts[j];
    const sa = a.reduce((x, y) => x + y, 0) || 1;
    const sb = b.reduce((x, y) => x + y, 0) || 1;
    return { feature: f.name, psi: a.reduce((s, _, i) => { const p = a[i] / sa + EPS; const q = b[i] / sb + EPS; return s + (p - q) * Math.log(p / q); }, 0) };
  });
  const { rows } = await pool.query<{ a: string[]; b: string[] }>(
    `select a.item_ids as a, b.item_ids as b from batchcast.predictions a join batchcast.predictions b on b.user_id = a.user_id
      where a.run_id = $1 and b.run_id = $2`, [runId, refId]);
  const k = outputs.k;
  const hist = new Array<number>(k + 1).fill(0);
  let overlapSum = 0;
  let rboSum = 0;
  for (const { a, b } of rows) {
    const shared = a.filter((x) => b.includes(x)).length;
    hist[shared]++;
    overlapSum += shared / k;
    let rbo = 0;
    for (let d = 1; d <= k; d++) rbo += 0.9 ** (d - 1) * (a.slice(0, d).filter((x) => b.slice(0, d).includes(x)).length / d);
    rboSum += 0.1 * rbo;
  }
  return {
    runId, referenceRunId: refId, psi, psiEpsilon: EPS, psiDriftThreshold: DRIFT_PSI,
    driftedFeatureShare: psi.filter((p) => p.psi > DRIFT_PSI).length / (psi.length || 1),
    itemJsDistance: jsDistance(outputs.itemCounts, refOutputs.itemCounts),
    sampleUsers: rows.length, meanOverlapAtK: overlapSum / (rows.length || 1), meanRbo: rboSum / (rows.length || 1),
    overlapHistogram: hist, usersRatio: outputs.usersScored / refOutputs.usersScored,
  };
}

function gates(outputs: OutputProfile, c: Comparison | null): GateVerdict[] {
  const v = (gate: string, kind: GateVerdict['kind'], value: number | null, threshold: number, max: boolean): GateVerdict =>
    ({ gate, kind, value, threshold, passed: value === null || (max ? value <= threshold : value >= threshold) });
  return [
    v('max_top_item_share', 'value', outputs.topItemShare, 0.5, true),
    v('min_catalog_coverage', 'value', outputs.catalogCoverage, 0.05, false),
    v('max_feature_psi', 'change', c ? Math.max(...c.psi.map((p) => p.psi)) : null, 1, true),
    v('max_drifted_feature_share', 'change', c?.driftedFeatureShare ?? null, 0.3, true),
    v('min_overlap_at_k', 'change', c?.meanOverlapAtK ?? null, 0.1, false),
    v('min_users_ratio', 'change', c?.usersRatio ?? null, 0.8, false),
  ];
}

export interface SeedRun { runId: number; date: string }

/** Inserts (seeded) profiles for `run`, and its comparison with `reference` when given, and gate verdicts. */
export async function seedGuardRows(pool: pg.Pool, fx: Fixture, run: SeedRun, reference: SeedRun | null): Promise<{ inputs: InputProfile; outputs: OutputProfile; comparison: Comparison | null; verdicts: GateVerdict[] }> {
  const refColumns = reference ? await readPartition(fx, reference.date) : null;
  const refInputs: InputProfile | null = refColumns
    ? { rows: refColumns[0].length, referenceRunId: null, features: fx.featureNames.map((f, j) => profileFeature(f, refColumns[j], null)) }
    : null;
  const columns = await readPartition(fx, run.date);
  const inputs: InputProfile = {
    rows: columns[0].length, referenceRunId: reference?.runId ?? null,
    features: fx.featureNames.map((f, j) => profileFeature(f, columns[j], refInputs?.features[j].deciles ?? null)),
  };
  const outputs = await profileOutputs(pool, fx, run.runId);
  let comparison: Comparison | null = null;
  if (reference && refInputs) {
    const refOutputs = await profileOutputs(pool, fx, reference.runId);
    const refCounts = refInputs.features.map((f, j) => binCounts(refColumns![j].filter(Number.isFinite), f.deciles));
    comparison = await compareRuns(pool, run.runId, reference.runId, inputs, refCounts, outputs, refOutputs);
    await pool.query(`insert into batchcast.run_profiles (run_id, inputs, outputs) values ($1, $2, $3) on conflict do nothing`,
      [reference.runId, JSON.stringify(refInputs), JSON.stringify(refOutputs)]);
    await pool.query('insert into batchcast.run_comparisons (run_id, reference_run_id, comparison) values ($1, $2, $3)',
      [run.runId, reference.runId, JSON.stringify(comparison)]);
  }
  await pool.query('insert into batchcast.run_profiles (run_id, inputs, outputs) values ($1, $2, $3)', [run.runId, JSON.stringify(inputs), JSON.stringify(outputs)]);
  const verdicts = gates(outputs, comparison);
  await pool.query(
    `insert into batchcast.gate_verdicts (run_id, gate, kind, value, threshold, passed)
     select $1, * from unnest($2::text[], $3::text[], $4::float8[], $5::float8[], $6::bool[])`,
    [run.runId, verdicts.map((g) => g.gate), verdicts.map((g) => g.kind), verdicts.map((g) => g.value), verdicts.map((g) => g.threshold), verdicts.map((g) => g.passed)]);
  return { inputs, outputs, comparison, verdicts };
}
