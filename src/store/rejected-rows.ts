// The dead-letter table for rows a job skips (bad_rows.mode = skip): one statement per 10k rows.
import type { Queryable } from './queryable.ts';

/** A row a job skipped: whose it was, and why (the inference workers' BadRow has these and more). */
export interface RejectedRow {
  userId: string;
  reason: string;
}

export async function saveRejectedRows(db: Queryable, runId: number, rows: RejectedRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 10_000) {
    const part = rows.slice(i, i + 10_000);
    await db.query(
      'insert into batchcast.rejected_rows (run_id, user_id, reason) select $1, u, r from unnest($2::text[], $3::text[]) as t(u, r)',
      [runId, part.map((r) => r.userId), part.map((r) => r.reason)],
    );
  }
}
