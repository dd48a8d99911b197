// The dead-letter table for rows a job skips (bad_rows.mode = skip): one statement per 10k rows.
import type pg from 'pg';
import type { BadRow } from '../infer/messages.ts';

export async function saveRejectedRows(db: Pick<pg.Pool, 'query'>, runId: number, rows: BadRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 10_000) {
    const part = rows.slice(i, i + 10_000);
    await db.query(
      'insert into batchcast.rejected_rows (run_id, user_id, reason) select $1, u, r from unnest($2::text[], $3::text[]) as t(u, r)',
      [runId, part.map((r) => r.userId), part.map((r) => r.reason)],
    );
  }
}
