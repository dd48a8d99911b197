// Retention: per (job, date), keep the published generation and the newest others up to `keep` in all;
// drop the tables of the rest (failed, abandoned, superseded). Ledger rows stay, marked pruned_at.
// Tables are detached CONCURRENTLY (see dropRunTable), so readers are never blocked.
import type pg from 'pg';
import type { Db } from '../db/connect.ts';
import { dropRunTable } from '../store/run-tables.ts';
import { RUN_LOCK_HELD, RUN_LOCK_KEY } from '../store/locks.ts';

export interface PruneRequest {
  job?: string;
  date?: string;
  /** generations to keep per (job, date), the published one included */
  keep: number;
  /**
   * Take each (job, date)'s run lock while pruning it, so a concurrent rollback (publish --run) cannot
   * point at a table being dropped. `client` must then be a dedicated connection. predict passes false:
   * it already holds the lock of the one date it prunes.
   */
  lockDates?: boolean;
}

export interface PruneResult { dropped: number[]; skippedBusy: string[] }

export async function pruneGenerations(db: Db, client: Pick<pg.ClientBase, 'query'>, req: PruneRequest): Promise<PruneResult> {
  // 'running' runs are left alone unless no process holds their (job, date) lock any more. A sharded generation
  // in progress never holds it while its shards score (predict-shard.ts): it is always left alone.
  const { rows } = await db.pool.query<{ run_id: number; job: string; prediction_date: string }>(
    `with ranked as (
       select r.run_id, r.status, r.shards, r.job, r.prediction_date, (p.run_id is not null) as published,
              row_number() over (partition by r.job, r.prediction_date
                                 order by (p.run_id is not null) desc, (r.status = 'succeeded') desc, r.run_id desc) as n
         from batchcast.runs r
         left join batchcast.published p on p.run_id = r.run_id
        where r.pruned_at is null
          and ($1::text is null or r.job = $1) and ($2::date is null or r.prediction_date = $2))
     select run_id, job, prediction_date from ranked
      where not published
        and (n > $3 or status = 'failed')
        and not (status = 'running' and shards is not null)
        and (status <> 'running' or not exists (
              select 1 from pg_locks l
               where ${RUN_LOCK_HELD}))
      order by job, prediction_date, run_id`,
    [req.job ?? null, req.date ?? null, req.keep],
  );
  const groups = new Map<string, typeof rows>();
  for (const r of rows) {
    const key = `${r.job} ${r.prediction_date}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const dropped: number[] = [];
  const skippedBusy: string[] = [];
  for (const [key, runs] of groups) {
    const { job, prediction_date: date } = runs[0];
    if (req.lockDates) {
      const got = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${RUN_LOCK_KEY}) as ok`, [job, date]);
      if (!got.rows[0].ok) {
        skippedBusy.push(key);
        continue;
      }
    }
    try {
      for (const { run_id } of runs) {
        // Under the lock nothing can publish this date; the check catches a publish between the query and the lock.
        const now = await db.pool.query('select 1 from batchcast.published where run_id = $1', [run_id]);
        if (now.rows.length) continue;
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
    } finally {
      if (req.lockDates) await client.query(`select pg_advisory_unlock(${RUN_LOCK_KEY})`, [job, date]);
    }
  }
  return { dropped, skippedBusy };
}
