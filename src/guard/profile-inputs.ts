// The input profile of a run: per feature, counts of NULL/NaN/Inf, moments, quantiles, this run's own deciles
// and a histogram over the reference run's deciles, computed by DuckDB (no per-row JavaScript).
// approx_quantile (t-digest) keeps memory bounded: exact quantile_cont would hold every value of every feature.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { JobDefinition } from '../jobs/load-job.ts';
import { parquetSource, sqlIdent } from '../read/duckdb.ts';
import type { FeatureProfile, InputProfile } from '../store/profiles.ts';
import { binEdges } from './drift-measures.ts';
import { readScale, scaleSampleColumn, scaleSelects } from './profile-scale.ts';

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

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const list = (v: unknown): number[] => ((v as { items?: unknown[] } | null)?.items ?? []).map(Number);

/** Rows the moments, quantiles and histograms are computed on, at most: a deterministic sample of the partition. */
export const PROFILE_SAMPLE_ROWS = 100_000;

/**
 * Profiles the partition's features in (at most) two aggregate passes: exact NULL/NaN/Inf counts over every row, then
 * moments, quantiles and the histogram over a sample of at most PROFILE_SAMPLE_ROWS rows chosen by a hash of
 * the user id (the same rows for the same data). Aggregate FILTER clauses were avoided: with ~500 of them
 * DuckDB took minutes on 1M rows; NULL-ing non-finite values in a projection does the same in one place.
 * `reference` is the input profile of the run this one would replace: its deciles are the histogram bins
 * (null on a first run: no histograms).
 */
export async function profileInputs(
  conn: DuckDBConnection,
  job: JobDefinition,
  files: string[],
  reference: InputProfile | null,
  referenceRunId: number | null,
  known: { rows: number; allFinite: boolean },
): Promise<InputProfile> {
  const features = featureColumns(job);
  const refEdges = new Map((reference?.features ?? []).map((f) => [f.name, binEdges(f.deciles)]));
  const source = parquetSource(files);
  const uid = sqlIdent(job.features.userIdColumn);
  const x = (i: number) => `x${i}`;

  // When no row was rejected, the workers saw every value finite (a NaN, Inf or NULL is a bad row): the counts
  // are zero without a pass over the partition. Only runs that skipped rows pay for counting them.
  const counts = known.allFinite
    ? [known.rows, ...features.flatMap(() => [known.rows, 0, 0])]
    : (
        await conn.runAndReadAll(
          `SELECT count(*), ${features.map((_, i) => `count(${x(i)}), count_if(isnan(${x(i)})), count_if(isinf(${x(i)}))`).join(', ')}
       FROM (SELECT ${features.map((f, i) => `${f.sql} AS ${x(i)}`).join(', ')} FROM ${source})`,
        )
      )
        .getRows()[0]
        .map(Number);
  const rows = counts[0];

  const share = Math.min(1, PROFILE_SAMPLE_ROWS / Math.max(1, rows));
  const sampled = share < 1 ? `WHERE hash(${uid}::VARCHAR) % 1000000 < ${Math.floor(share * 1_000_000)}` : '';
  const selects = ['count(*)'];
  features.forEach((f, i) => {
    const v = x(i);
    selects.push(
      `count(${v})`,
      `avg(${v})`,
      `stddev_pop(${v})`,
      `min(${v})`,
      `max(${v})`,
      `approx_quantile(${v}, [${QUANTILES.join(', ')}])`,
      ...scaleSelects(v),
    );
    // values below each edge; bin counts are the differences
    for (const e of refEdges.get(f.name) ?? []) selects.push(`count_if(${v} < ${e})`);
  });
  const row = (
    await conn.runAndReadAll(
      `SELECT ${selects.join(', ')}
       FROM (SELECT ${features.map((f, i) => `CASE WHEN isfinite(${f.sql}) THEN ${f.sql} END AS ${x(i)}`).join(', ')}, ${scaleSampleColumn(uid, rows)}
             FROM ${source} ${sampled})`,
    )
  ).getRows()[0];
  const sampledRows = Number(row[0]);
  let at = 1;
  const out: FeatureProfile[] = features.map(({ name }, i) => {
    const [nonNull, nans, infs] = counts.slice(1 + 3 * i, 4 + 3 * i);
    const finite = Number(row[at]);
    const [mean, std, min, max] = row.slice(at + 1, at + 5).map(num);
    const q = list(row[at + 5]);
    const scale = readScale(row[at + 6], row[at + 7], finite);
    at += 8;
    const edges = refEdges.get(name);
    let histogram: FeatureProfile['histogram'] = null;
    if (edges) {
      const below = row.slice(at, at + edges.length).map(Number);
      at += edges.length;
      histogram = { edges, counts: [...below, finite].map((c, j) => c - (j ? below[j - 1] : 0)) };
    }
    const qa = (p: number) => q[QUANTILES.indexOf(p)];
    return {
      name,
      rows,
      nulls: rows - nonNull,
      nans,
      infs,
      mean,
      std,
      min,
      max,
      quantiles: q.length ? { p1: qa(0.01), p5: qa(0.05), p25: qa(0.25), p50: qa(0.5), p75: qa(0.75), p95: qa(0.95), p99: qa(0.99) } : null,
      deciles: q.length ? DECILES.map(qa) : [],
      histogram,
      scale,
    };
  });
  return { rows, features: out, referenceRunId: reference ? referenceRunId : null, sampledRows };
}
