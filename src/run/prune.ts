// Retention: per (job, date), keep the published generation and the newest others up to `keep` in all;
// drop the tables of the rest (failed, abandoned, superseded). Ledger rows stay, marked pruned_at.
// Tables are detached CONCURRENTLY (see dropRunTable), so readers are never blocked.
import type pg from 'pg';
import type { Db } from '../db/connect.ts';
import { dropRunTable } from '../write/write-predictions.ts';

export interface PruneRequest {
  job?: string;
  date?: string;
  /** generations to keep per (job, date), the published one included */
  keep: number;
}

export interface PruneResult { dropped: number[] }

export async function pruneGenerations(db: Db, client: Pick<pg.Pool, 'query'>, req: PruneRequest): Promise<PruneResult> {
  // 'running' runs are left alone unless no process holds their (job, date) lock any more.
  const { rows } = await db.pool.query<{ run_id: number }>(
    `with ranked as (
       select r.run_id, r.status, r.job, r.prediction_date, (p.run_id is not null) as published,
              row_number() over (partition by r.job, r.prediction_date
                                 order by (p.run_id is not null) desc, (r.status = 'succeeded') desc, r.run_id desc) as n
         from batchcast.runs r
         left join batchcast.published p on p.run_id = r.run_id
        where r.pruned_at is null
          and ($1::text is null or r.job = $1) and ($2::date is null or r.prediction_date = $2))
     select run_id from ranked
      where not published
        and (n > $3 or status = 'failed')
        and (status <> 'running' or not exists (
              select 1 from pg_locks l
               where l.locktype = 'advisory' and l.granted and l.objsubid = 2
                 and l.classid::int = hashtext('batchcast:' || ranked.job)
                 and l.objid::int = (ranked.prediction_date - date '2000-01-01')))
      order by run_id`,
    [req.job ?? null, req.date ?? null, req.keep],
  );
  const dropped: number[] = [];
  for (const { run_id } of rows) {
    await dropRunTable(client, run_id);
    await db.pool.query(
      `update batchcast.runs set pruned_at = now(),
              status = case when status = 'running' then 'failed' else status end,
              error = case when status = 'running' then 'abandoned: its process died before finishing (found by prune)' else error end
        where run_id = $1`,
      [run_id],
    );
    dropped.push(run_id);
  }
  return { dropped };
}
