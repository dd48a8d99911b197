// The one place that says where a run's rows are, for the guardrails: the profiles and comparisons read a
// run only through runRows() (comparableRows for item lists). A storage change (another partitioning) adapts here and nowhere else.
// Also the deterministic user sample both use.

import { itemMapKeys } from '../store/ledger.ts';
import type { Queryable } from '../store/queryable.ts';
import { generationSource } from '../store/run-tables.ts';
import { runTable } from '../store/tables.ts';

/** A run's rows, (user_id, item_ids, scores), as a FROM item: the run's own table (no plan over every partition). */
export function runRows(runId: number): string {
  return `(select user_id, item_ids, scores from ${generationSource(runId)})`;
}

/**
 * Two runs' rows for comparing item lists, as FROM items with (user_id, items): item indices (int4[]) when both
 * runs use the same item map (the same index is the same item: no decoding, which cost the comparison half its
 * time; `indices` true), else item ids (text[]) through generationSource.
 */
export async function comparableRows(
  db: Queryable,
  runId: number,
  refRunId: number,
): Promise<{ now: string; ref: string; indices: boolean }> {
  const [a, b] = await itemMapKeys(db, runId, refRunId);
  const same = a !== null && a === b;
  const of = (id: number) =>
    same ? `(select user_id, item_idx as items from ${runTable(id)})` : `(select user_id, item_ids as items from ${generationSource(id)})`;
  return { now: of(runId), ref: of(refRunId), indices: same };
}

/** Users in the deterministic sample of a comparison: at most this many, the same ones every time. */
export const SAMPLE_USERS = 100_000;

/**
 * SQL condition keeping about `sample` of `users` rows, chosen by a stable hash of the user id: the low 32 bits
 * of hashtextextended(user_id, 0), PostgreSQL's own hash for hash partitioning (frozen across versions, since
 * pg_upgrade keeps hash partitions valid). md5 (the shard function of DESIGN.md) costs 1.1 s per 1M ids here
 * against 0.2 s: the guard's budget is 5% of a run. A run with fewer users keeps them all, and hashes nothing.
 */
export function sampleCondition(column: string, users: number, sample = SAMPLE_USERS): string {
  if (users <= sample) return 'true';
  // 3% under the target: the sample stays under `sample` without a sort to cut it (binomial sd ~0.3%)
  const threshold = Math.floor(2 ** 32 * (sample / users) * 0.97);
  return `(hashtextextended(${column}, 0) & 4294967295) < ${threshold}`;
}
