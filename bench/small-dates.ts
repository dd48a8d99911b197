// Published dates made with SQL, shaped exactly as `predict` makes them: a ledger row, the run's own table
// (createRunTable), its rows, the index after the load (indexRunTable), ATTACH (attachRunTable), then the
// publish transaction that marks the run succeeded and moves the pointer (publishRun). Only the rows come
// from generate_series instead of a model. Uses whatever layout the checkout's src/ makes, so the same
// file builds the "before" (run_id partitions) and the "after" (job, date, run_id) databases.
import type pg from 'pg';
import { markSucceeded } from '../src/store/ledger.ts';
import { publishRun } from '../src/store/pointer.ts';
import { attachRunTable, createRunTable, indexRunTable } from '../src/store/run-tables.ts';
import { runTable } from '../src/store/tables.ts';

export interface SmallDates {
  job: string;
  /** YYYY-MM-DD, each published once */
  dates: string[];
  users: number;
  k: number;
  /** distinct item ids the rows draw from */
  items?: number;
  /** 'published' (default) or 'attached': written and attached but not published, like a held run */
  finish?: 'published' | 'attached';
  onDate?: (date: string, runId: number) => void;
}

/** Writes and (by default) publishes one generation per date; returns the run ids in date order. */
export async function writeSmallDates(client: pg.ClientBase, o: SmallDates): Promise<number[]> {
  const runIds: number[] = [];
  for (const date of o.dates) {
    const { rows } = await client.query<{ run_id: number }>(
      `insert into batchcast.runs (job, prediction_date, model_version, k, host, pid)
       values ($1, $2, 'small-dates', $3, 'bench', 0) returning run_id`,
      [o.job, date, o.k],
    );
    const runId = rows[0].run_id;
    await createRunTable(client, runId);
    // user u0..u(n-1); items vary by user and date, scores fall with rank
    await client.query(
      `insert into ${runTable(runId)} (user_id, item_ids, scores)
       select 'u' || g,
              array(select 'item-' || ((g * 7 + j * 131 + $3) % $4) from generate_series(1, $2) j),
              array(select (1 - j * 0.03)::real from generate_series(1, $2) j)
         from generate_series(0, $1 - 1) g`,
      [o.users, o.k, runId, o.items ?? 1000],
    );
    await client.query('update batchcast.runs set rows_read = $2, rows_written = $2 where run_id = $1', [runId, o.users]);
    await indexRunTable(client, runId);
    await attachRunTable(client, runId, 5_000);
    if (o.finish === 'attached') {
      await client.query(`update batchcast.runs set status = 'succeeded', finished_at = now() where run_id = $1`, [runId]);
    } else {
      await publishRun(client, { job: o.job, date, runId, action: 'publish', lockTimeoutMs: 5_000 }, (tx) =>
        markSucceeded(tx, runId, { total: 0 }),
      );
    }
    runIds.push(runId);
    o.onDate?.(date, runId);
  }
  return runIds;
}

/** `count` consecutive dates ending the day before `last` (YYYY-MM-DD), oldest first. */
export function datesBefore(last: string, count: number): string[] {
  const end = Date.parse(`${last}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => new Date(end - (count - i) * 86_400_000).toISOString().slice(0, 10));
}
