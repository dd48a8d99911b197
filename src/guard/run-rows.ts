// The one place that says where a run's rows are, for the guardrails: the profiles and comparisons read a
// run only through runRows(). A storage change (another partitioning) adapts here and nowhere else.
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** A run's rows, (user_id, item_ids, scores), as a FROM item. The literal run id lets the planner prune to one partition. */
export function runRows(runId: number): string {
  return `(select user_id, item_ids, scores from batchcast.predictions where run_id = ${Math.trunc(runId)})`;
}

/** Users in the deterministic sample: at most this many, chosen by md5(user_id), the same ones every time. */
export const SAMPLE_USERS = 100_000;

/**
 * SQL condition keeping about `SAMPLE_USERS` of `users` rows: the first 8 hex digits of md5(user_id) as an
 * unsigned integer below a threshold (the shard function of DESIGN.md, reproducible in DuckDB and Python).
 * A run with fewer users keeps them all, and no hash is computed.
 */
export function sampleCondition(column: string, users: number): string {
  if (users <= SAMPLE_USERS) return 'true';
  // 3% under the target: the sample stays under SAMPLE_USERS without a sort to cut it (binomial sd ~0.3%)
  const threshold = Math.floor(2 ** 32 * (SAMPLE_USERS / users) * 0.97);
  return `('x' || substr(md5(${column}), 1, 8))::bit(32)::bigint < ${threshold}`;
}

/** Rows written by a run, from the ledger. */
export async function usersOf(db: Queryable, runId: number): Promise<number> {
  const { rows } = await db.query<{ n: string }>('select rows_written as n from batchcast.runs where run_id = $1', [runId]);
  return Number(rows[0]?.n ?? 0);
}
