// The input profile of a run: per feature, counts of NULL/NaN/Inf, moments, quantiles, this run's own deciles
// and a histogram over the reference run's deciles, all in ONE aggregate pass of DuckDB over the partition
// (no per-row JavaScript). approx_quantile (t-digest) keeps memory bounded whatever the partition size:
// exact quantile_cont would hold every value of every feature (1M users x 32 features = 256 MB).
import type { DuckDBConnection } from '@duckdb/node-api';
import type { JobDefinition } from '../jobs/load-job.ts';
import { sqlIdent, sqlString } from '../read/duckdb.ts';
import type { FeatureProfile, InputProfile } from './types.ts';

/** Positions of a list column profiled at most: past that, one query would carry tens of thousands of aggregates. */
export const MAX_PROFILED_FEATURES = 256;

const QUANTILES = [0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99];
const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** Feature names and the SQL that reads each as DOUBLE; list columns give one feature per position. */
export function featureColumns(job: JobDefinition): { name: string; sql: string }[] {
  const f = job.features;
  if (!f.listColumn) return f.columns.map((c) => ({ name: c, sql: `${sqlIdent(c)}::DOUBLE` }));
  const n = Math.min(f.size, MAX_PROFILED_FEATURES);
  return Array.from({ length: n }, (_, i) => ({ name: `${f.listColumn}[${i + 1}]`, sql: `${sqlIdent(f.listColumn!)}[${i + 1}]::DOUBLE` }));
}

/** Sorted distinct decile cut points: the bin edges a later run is counted on. */
export function binEdges(deciles: number[]): number[] {
  return [...new Set(deciles)].sort((a, b) => a - b);
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const list = (v: unknown): number[] => ((v as { items?: unknown[] } | null)?.items ?? []).map(Number);

/**
 * Profiles the partition's features. `reference` is the input profile of the run this one would replace:
 * its deciles are the histogram bins (null on a first run: no histograms).
 */
export async function profileInputs(conn: DuckDBConnection, job: JobDefinition, files: string[], reference: InputProfile | null, referenceRunId: number | null): Promise<InputProfile> {
  const features = featureColumns(job);
  const refEdges = new Map((reference?.features ?? []).map((f) => [f.name, binEdges(f.deciles)]));
  const selects = ['count(*)'];
  for (const { name, sql: x } of features) {
    const finite = `FILTER (WHERE isfinite(${x}))`;
    selects.push(
      `count(*) - count(${x})`, `count(*) FILTER (WHERE isnan(${x}))`, `count(*) FILTER (WHERE isinf(${x}))`,
      `count(*) ${finite}`, `avg(${x}) ${finite}`, `stddev_pop(${x}) ${finite}`, `min(${x}) ${finite}`, `max(${x}) ${finite}`,
      `approx_quantile(${x}, [${QUANTILES.join(', ')}]) ${finite}`,
    );
    // values below each edge; bin counts are the differences
    for (const e of refEdges.get(name) ?? []) selects.push(`count(*) FILTER (WHERE isfinite(${x}) AND ${x} < ${e})`);
  }
  const source = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`;
  const row = (await conn.runAndReadAll(`SELECT ${selects.join(', ')} FROM ${source}`)).getRows()[0];
  const rows = Number(row[0]);
  let at = 1;
  const out: FeatureProfile[] = features.map(({ name }) => {
    const [nulls, nans, infs, finite] = row.slice(at, at + 4).map(Number);
    const [mean, std, min, max] = row.slice(at + 4, at + 8).map(num);
    const q = list(row[at + 8]);
    at += 9;
    const edges = refEdges.get(name);
    let histogram: FeatureProfile['histogram'] = null;
    if (edges) {
      const below = row.slice(at, at + edges.length).map(Number);
      at += edges.length;
      const counts = [...below, finite].map((c, i) => c - (i ? below[i - 1] : 0));
      histogram = { edges, counts };
    }
    const qa = (p: number) => q[QUANTILES.indexOf(p)];
    return {
      name, rows, nulls, nans, infs, mean, std, min, max,
      quantiles: q.length ? { p1: qa(0.01), p5: qa(0.05), p25: qa(0.25), p50: qa(0.5), p75: qa(0.75), p95: qa(0.95), p99: qa(0.99) } : null,
      deciles: q.length ? DECILES.map(qa) : [],
      histogram,
    };
  });
  return { rows, features: out, referenceRunId: reference ? referenceRunId : null };
}
