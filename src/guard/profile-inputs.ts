// The input profile of a run: per feature, counts of NULL/NaN/Inf, moments, quantiles, deciles, this run's own
// bins with exact counts, and this run counted on the reference's bins, computed by DuckDB (no per-row JavaScript).
// approx_quantile (t-digest) keeps memory bounded: exact quantile_cont would hold every value of every feature.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { JobDefinition } from '../jobs/load-job.ts';
import { parquetSource, sqlIdent } from '../read/duckdb.ts';
import type { Bins, FeatureProfile, InputProfile } from '../store/profiles.ts';
import { binCounts, binIndexSql, rangeEdges, valueBins } from './feature-bins.ts';

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

/** Rows the moments, quantiles and bins are computed on, at most: a deterministic sample of the partition. */
export const PROFILE_SAMPLE_ROWS = 100_000;
/** A feature with at most this many distinct values in its sample is binned by value (config driftDiscreteValues). */
export const DISCRETE_VALUES = 20;

/** Collects aggregate expressions and gives each one's position in the result row. */
function selectList() {
  const exprs: string[] = [];
  return { exprs, add: (e: string) => exprs.push(e) - 1 };
}

/**
 * Profiles the partition's features: exact NULL/NaN/Inf counts over every row (skipped when the run saw every
 * value finite), then over a sample of at most PROFILE_SAMPLE_ROWS rows chosen by a hash of the user id (the
 * same rows for the same data, whatever their order or files), kept in a temporary table for two aggregate
 * passes: (1) moments, quantiles, distinct counts, and this run counted on the reference's bins; (2) this
 * run's own bins, which need (1)'s deciles. Aggregate FILTER clauses were avoided: with ~500 of them DuckDB
 * took minutes on 1M rows; NULL-ing non-finite values in the projection does the same in one place.
 * `reference` is the input profile of the run this one would replace (null on a first run: no histograms).
 */
export async function profileInputs(
  conn: DuckDBConnection,
  job: JobDefinition,
  files: string[],
  reference: InputProfile | null,
  referenceRunId: number | null,
  known: { rows: number; allFinite: boolean },
  maxValues = DISCRETE_VALUES,
): Promise<InputProfile> {
  const features = featureColumns(job);
  const refBins = new Map((reference?.features ?? []).flatMap((f) => (f.bins ? [[f.name, f.bins] as const] : [])));
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
  const sample = 'batchcast_profile_sample';
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${sample} AS SELECT ${features.map((f, i) => `CASE WHEN isfinite(${f.sql}) THEN ${f.sql} END AS ${x(i)}`).join(', ')} FROM ${source} ${sampled}`,
  );
  try {
    const a = selectList();
    a.add('count(*)');
    const at = features.map(({ name }, i) => {
      const v = x(i);
      const ref = refBins.get(name);
      return {
        stats: [`count(${v})`, `avg(${v})`, `stddev_pop(${v})`, `min(${v})`, `max(${v})`].map(a.add),
        q: a.add(`approx_quantile(${v}, [${QUANTILES.join(', ')}])`),
        distinct: a.add(`approx_count_distinct(${v})`),
        onRef: ref ? a.add(`histogram(${binIndexSql(ref.kind, ref.edges, v)})`) : -1,
      };
    });
    const row = (await conn.runAndReadAll(`SELECT ${a.exprs.join(', ')} FROM ${sample}`)).getRows()[0];
    const sampledRows = Number(row[0]);
    const first = features.map(({ name }, i) => {
      const [finite, mean, std, min, max] = at[i].stats.map((j) => num(row[j]));
      const q = list(row[at[i].q]);
      const ref = refBins.get(name);
      const qa = (p: number) => q[QUANTILES.indexOf(p)];
      return {
        finite: finite ?? 0,
        mean,
        std,
        min,
        max,
        q,
        qa,
        distinct: Number(row[at[i].distinct]),
        deciles: q.length ? DECILES.map(qa) : [],
        histogram: ref ? binCounts(ref.kind, ref.edges, row[at[i].onRef]) : null,
      };
    });

    // (2) this run's own bins. approx_count_distinct (HyperLogLog) is within a few % at these counts: a few
    // more than maxValues are counted by value too, and histogram() then says exactly.
    const b = selectList();
    const own = first.map((f, i) => {
      if (!f.finite) return {};
      const edges = rangeEdges(f.min, f.deciles, f.max);
      return {
        edges,
        values: f.distinct <= maxValues + 2 + maxValues / 10 ? b.add(`histogram(${x(i)})`) : -1,
        ranges: b.add(`histogram(${binIndexSql('ranges', edges, x(i))})`),
      };
    });
    const second = b.exprs.length ? (await conn.runAndReadAll(`SELECT ${b.exprs.join(', ')} FROM ${sample}`)).getRows()[0] : [];

    const out: FeatureProfile[] = features.map(({ name }, i) => {
      const [nonNull, nans, infs] = counts.slice(1 + 3 * i, 4 + 3 * i);
      const f = first[i];
      const o = own[i];
      const missing = sampledRows - f.finite;
      const bins: Bins =
        o.edges === undefined
          ? { kind: 'values', edges: [], counts: [0, missing] }
          : ((o.values! >= 0 ? valueBins(second[o.values!], missing, maxValues) : null) ?? binCounts('ranges', o.edges, second[o.ranges!]));
      const { qa, q } = f;
      return {
        name,
        rows,
        nulls: rows - nonNull,
        nans,
        infs,
        mean: f.mean,
        std: f.std,
        min: f.min,
        max: f.max,
        quantiles: q.length
          ? { p1: qa(0.01), p5: qa(0.05), p25: qa(0.25), p50: qa(0.5), p75: qa(0.75), p95: qa(0.95), p99: qa(0.99) }
          : null,
        deciles: f.deciles,
        bins,
        histogram: f.histogram,
      };
    });
    return { rows, features: out, referenceRunId: reference ? referenceRunId : null, sampledRows };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${sample}`);
  }
}
