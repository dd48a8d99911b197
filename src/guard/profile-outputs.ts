// The output profile of a run: what came out. Item counts come from the inference workers (they count every
// user's top K as they score, InferPool.itemCounts()); score percentiles come from one SQL statement over the
// run's deterministic sample of up to 100k users (run-rows.ts), so the cost does not grow with the run.

import type { Bins, OutputProfile } from '../store/profiles.ts';
import type { Queryable } from '../store/queryable.ts';
import { countOn, ownBins } from './feature-bins.ts';
import { DISCRETE_VALUES } from './profile-inputs.ts';
import { runRows, sampleCondition } from './run-rows.ts';

const PERCENTS = Array.from({ length: 101 }, (_, i) => i / 100);
// Percentiles at 1% steps need no more: 10k users (100k scores at K = 10) sort in ~0.1 s; 100k users took 2 s.
const PERCENTILE_USERS = 10_000;

/** Gini index of counts: 0 when every item is as frequent, 1 when one item takes everything. */
export function gini(counts: ArrayLike<number>): number {
  const sorted = Float64Array.from(counts).sort();
  const n = sorted.length;
  let total = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    total += sorted[i];
    weighted += (2 * (i + 1) - n - 1) * sorted[i];
  }
  return n && total ? weighted / (n * total) : 0;
}

export interface OutputFacts {
  runId: number;
  k: number;
  rowsRead: number;
  usersScored: number;
  itemIds: string[];
  itemCounts: ArrayLike<number>;
}

/** Everything of the output profile that the workers' counts give, without SQL: the score percentiles are empty. */
export function outputCounts(f: OutputFacts): OutputProfile {
  const counts = Array.from(f.itemCounts, Number);
  const slots = counts.reduce((a, b) => a + b, 0);
  let top = -1;
  counts.forEach((c, i) => {
    if (c > 0 && (top < 0 || c > counts[top])) top = i;
  });
  return {
    rowsRead: f.rowsRead,
    usersScored: f.usersScored,
    scoredRatio: f.rowsRead ? f.usersScored / f.rowsRead : 0,
    k: f.k,
    items: f.itemIds.length,
    top1Percentiles: [],
    scorePercentiles: [],
    itemCounts: counts,
    catalogCoverage: counts.length ? counts.filter((c) => c > 0).length / counts.length : 0,
    gini: gini(counts),
    topItemShare: slots ? counts[top] / slots : 0,
    topItemId: top >= 0 ? f.itemIds[top] : null,
  };
}

/**
 * The rank-1 scores of the sample, sorted: this run's own bins (deciles by nearest rank, as for the input
 * features) and its counts on the reference's bins, both exact. 10k values: under 5 ms.
 */
function top1Bins(values: number[], reference: Bins | undefined): Pick<OutputProfile, 'top1Bins' | 'top1Histogram'> {
  const sorted = Float64Array.from(values.filter(Number.isFinite)).sort();
  const missing = values.length - sorted.length;
  const n = sorted.length;
  const deciles = n ? Array.from({ length: 9 }, (_, i) => sorted[Math.max(0, Math.ceil(((i + 1) / 10) * n) - 1)]) : [];
  return {
    top1Bins: n ? ownBins(sorted, deciles, DISCRETE_VALUES, missing) : { kind: 'values', edges: [], counts: [0, missing] },
    top1Histogram: reference ? countOn(sorted, reference.kind, reference.edges, missing) : null,
  };
}

/** `reference`: the output profile of the run this one would replace, whose rank-1 score bins this run is counted on. */
export async function profileOutputs(db: Queryable, f: OutputFacts, reference: OutputProfile | null = null): Promise<OutputProfile> {
  const { rows } = await db.query<{ top1: number[] | null; all: number[] | null; top1_values: number[] | null }>(
    `with s as (select scores from ${runRows(f.runId)} r where ${sampleCondition('r.user_id', f.usersScored, PERCENTILE_USERS)})
     select (select percentile_cont($1::float8[]) within group (order by scores[1]) from s) as top1,
            (select percentile_cont($1::float8[]) within group (order by v) from s, unnest(s.scores) v) as all,
            (select array_agg(scores[1]::float8) from s) as top1_values`,
    [PERCENTS],
  );
  const r = rows[0];
  return {
    ...outputCounts(f),
    top1Percentiles: (r.top1 ?? []).map(Number),
    scorePercentiles: (r.all ?? []).map(Number),
    ...top1Bins((r.top1_values ?? []).map(Number), reference?.top1Bins),
  };
}
