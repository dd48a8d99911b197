// A run against a reference run, from their stored profiles and their rows: per-feature PSI and JS distance, the item
// popularity's Jensen–Shannon distance, per-user overlap@K and rank-biased overlap over a deterministic
// sample, and the users ratio. The measures themselves are in drift-measures.ts.

import type { Comparison, RunProfiles } from '../store/profiles.ts';
import type { Queryable } from '../store/queryable.ts';
import { featureDrift, jsDistance, PSI_EPSILON, RBO_P, rbo, scoreDrift } from './drift-measures.ts';
import { comparableRows, sampleCondition } from './run-rows.ts';

/** "12\x1f345\x1f7" (item indices joined by U+001F) into `out`; returns how many. No strings made per item. */
function parseIndices(s: string, out: Int32Array): number {
  let n = 0;
  let v = 0;
  let digits = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 31) {
      if (n < out.length) out[n++] = v;
      v = 0;
      digits = false;
    } else {
      v = v * 10 + (c - 48);
      digits = true;
    }
  }
  if (digits && n < out.length) out[n++] = v;
  return n;
}

/** Per-user agreement over the users in both runs, sampled by a stable hash of the user id: the same users every time. */
async function userAgreement(db: Queryable, runId: number, refRunId: number, users: number, k: number) {
  // Lists as text joined by U+001F: node-pg's array parsers took twice as long as the query (50k users: 343 vs 150 ms).
  // the condition on both sides: the same users, and the join builds its hash table from the sample only
  const sampled = `${sampleCondition('now.user_id', users)} and ${sampleCondition('ref.user_id', users)}`;
  const { now: nowRows, ref: refRows, indices } = await comparableRows(db, runId, refRunId);
  const { rows } = await db.query<{ a: string; b: string }>(
    `select array_to_string(now.items, chr(31)) as a, array_to_string(ref.items, chr(31)) as b
       from ${nowRows} now join ${refRows} ref on ref.user_id = now.user_id
      where ${sampled}`,
  );
  const histogram = new Array<number>(k + 1).fill(0);
  let overlap = 0;
  let r = 0;
  // the same item map on both sides: indices compared as numbers, parsed without a string per item
  const a = new Int32Array(k);
  const b = new Int32Array(k);
  for (const row of rows) {
    const x = indices
      ? rbo(a.subarray(0, parseIndices(row.a, a)), b.subarray(0, parseIndices(row.b, b)), RBO_P, k)
      : rbo(row.a.split('\x1f'), row.b.split('\x1f'), RBO_P, k);
    overlap += x.overlap;
    r += x.rbo;
    histogram[Math.round(x.overlap * k)]++;
  }
  const n = rows.length;
  return { sampleUsers: n, meanOverlapAtK: n ? overlap / n : 0, meanRbo: n ? r / n : 0, overlapHistogram: histogram };
}

/** The rank-1 score's drift, when `now`'s outputs were counted on `ref`'s bins (its guard compared it with `ref`). */
export function withTop1(now: RunProfiles, ref: RunProfiles): Pick<Comparison, 'top1Score'> {
  const top1Score = scoreDrift(now.outputs, ref.outputs, now.inputs.referenceRunId === ref.runId);
  return top1Score ? { top1Score } : {};
}

export async function compareRuns(db: Queryable, now: RunProfiles, ref: RunProfiles, psiDriftThreshold: number): Promise<Comparison> {
  const refFeatures = new Map(ref.inputs.features.map((f) => [f.name, f]));
  const drift = now.inputs.features.flatMap((f) => {
    const r = refFeatures.get(f.name);
    const d = r && featureDrift(f, r, ref.runId, now.inputs.referenceRunId);
    return d ? [{ feature: f.name, ...d }] : [];
  });
  const psi = drift.map(({ feature, psi, js, kind }) => ({ feature, psi, js, ...(kind ? { kind } : {}) }));
  const estimated = drift.filter((d) => !d.exact).length;
  const why =
    now.inputs.referenceRunId === ref.runId
      ? `one of the two runs was profiled before exact bins existed`
      : `run ${now.runId} was profiled against run ${now.inputs.referenceRunId ?? 'none'}, not counted on run ${ref.runId}'s bins, and its input files are not at hand to count it again`;
  const psiNote = estimated ? `PSI of ${estimated} of ${drift.length} features estimated from quantiles, not counted: ${why}` : undefined;
  const k = Math.min(now.outputs.k, ref.outputs.k);
  const agreement = await userAgreement(db, now.runId, ref.runId, Math.max(now.outputs.usersScored, ref.outputs.usersScored), k);
  return {
    runId: now.runId,
    referenceRunId: ref.runId,
    psi,
    ...(psiNote ? { psiNote } : {}),
    psiEpsilon: PSI_EPSILON,
    psiDriftThreshold,
    driftedFeatureShare: psi.length ? psi.filter((p) => p.psi > psiDriftThreshold).length / psi.length : 0,
    itemJsDistance: jsDistance(now.outputs.itemCounts, ref.outputs.itemCounts),
    ...withTop1(now, ref),
    ...agreement,
    usersRatio: ref.outputs.usersScored ? now.outputs.usersScored / ref.outputs.usersScored : 0,
  };
}
