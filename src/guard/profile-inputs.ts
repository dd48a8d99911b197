// The input profile of a run: per feature, counts of NULL/NaN/Inf, moments, quantiles, deciles, this run's own
// bins with exact counts, and this run counted on the reference's bins. DuckDB picks a bounded sample (memory
// does not grow with the partition); each feature's sampled values are then sorted once, and every figure is exact on them.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { JobDefinition } from '../jobs/load-job.ts';
import { parquetSource, sqlIdent } from '../read/duckdb.ts';
import { readDoubleColumns } from '../read/read-double-columns.ts';
import type { Bins, FeatureProfile, InputProfile } from '../store/profiles.ts';
import { countOn, ownBins } from './feature-bins.ts';
import { featureScale } from './profile-scale.ts';

/** Positions of a list column profiled at most: past that, one query would carry tens of thousands of aggregates. */
export const MAX_PROFILED_FEATURES = 256;

const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** Feature names and the SQL that reads each as DOUBLE; list columns give one feature per position. */
export function featureColumns(job: JobDefinition): { name: string; sql: string }[] {
  const f = job.features;
  if (!f.listColumn) return f.columns.map((c) => ({ name: c, sql: `${sqlIdent(c)}::DOUBLE` }));
  const n = Math.min(f.size, MAX_PROFILED_FEATURES);
  return Array.from({ length: n }, (_, i) => ({ name: `${f.listColumn}[${i + 1}]`, sql: `${sqlIdent(f.listColumn!)}[${i + 1}]::DOUBLE` }));
}

/** Rows the moments, quantiles and bins are computed on, at most: a deterministic sample of the partition. */
export const PROFILE_SAMPLE_ROWS = 100_000;
/** A feature with at most this many distinct values in its sample is binned by value (config driftDiscreteValues). */
export const DISCRETE_VALUES = 20;

/** Sampled feature columns read into JavaScript at once: 32 x 100k doubles = 25.6 MB. */
const COLUMNS_AT_ONCE = 32;

/**
 * Profiles the partition's features: exact NULL/NaN/Inf counts over every row (skipped when the run saw every
 * value finite), then everything else over a sample of at most PROFILE_SAMPLE_ROWS rows chosen by a hash of
 * the user id (the same rows for the same data, whatever their order or files): DuckDB decodes the partition
 * once to pick the sample into a temporary table, non-finite values NULLed in the projection (aggregate FILTER
 * clauses took minutes on 1M rows), and each feature's sampled values are sorted in JavaScript (profileSample).
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
    const sampledRows = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${sample}`)).getRows()[0][0]);
    const out: FeatureProfile[] = [];
    for (let from = 0; from < features.length; from += COLUMNS_AT_ONCE) {
      const group = features.slice(from, from + COLUMNS_AT_ONCE);
      const columns = await readDoubleColumns(
        conn,
        `SELECT ${group.map((_, j) => x(from + j)).join(', ')} FROM ${sample}`,
        group.length,
        sampledRows,
      );
      group.forEach(({ name }, j) => {
        const i = from + j;
        const [nonNull, nans, infs] = counts.slice(1 + 3 * i, 4 + 3 * i);
        out.push({ name, rows, nulls: rows - nonNull, nans, infs, ...profileSample(columns[j], refBins.get(name), maxValues) });
      });
    }
    return { rows, features: out, referenceRunId: reference ? referenceRunId : null, sampledRows };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${sample}`);
  }
}

/**
 * One feature's figures from its sampled values (NaN where not finite), sorted once in JavaScript: moments,
 * quantiles by nearest rank (values of the sample, so a tie shows as equal deciles), this run's own bins and
 * its counts on the reference's bins, all exact. A sort of 100k doubles takes ~8 ms; DuckDB's approx_quantile
 * plus the bin counts as aggregates took 3-5x as long over 32 features (bench/README.md, "Guardrails cost").
 */
function profileSample(values: Float64Array, ref: Bins | undefined, maxValues: number) {
  let n = 0;
  const finite = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) finite[n++] = values[i]; // NULL (non-finite) was read as NaN
  const sorted = finite.subarray(0, n).sort();
  const missing = values.length - n;
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = n ? sum / n : null;
  let squares = 0;
  for (const v of sorted) squares += (v - mean!) ** 2;
  const q = (p: number) => sorted[Math.max(0, Math.ceil(p * n) - 1)];
  const deciles = n ? DECILES.map(q) : [];
  return {
    mean,
    std: n ? Math.sqrt(squares / n) : null,
    min: n ? sorted[0] : null,
    max: n ? sorted[n - 1] : null,
    quantiles: n ? { p1: q(0.01), p5: q(0.05), p25: q(0.25), p50: q(0.5), p75: q(0.75), p95: q(0.95), p99: q(0.99) } : null,
    deciles,
    bins: n ? ownBins(sorted, deciles, maxValues, missing) : { kind: 'values' as const, edges: [], counts: [0, missing] },
    histogram: ref ? countOn(sorted, ref.kind, ref.edges, missing) : null,
    scale: featureScale(sorted),
  };
}
