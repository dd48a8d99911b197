// What the ledger says about the dates of a job: the facts the scheduler and backfill decide from.
import type { Queryable } from './queryable.ts';
import type { RunStatus } from './tables.ts';

export interface DateStatus {
  date: string;
  /** the generation readers see, if any */
  publishedRunId: number | null;
  publishedModel: string | null;
  /** the newest run of the date, whatever its status */
  lastRunId: number | null;
  /** shadow runs are not counted: they never stand for the date */
  lastStatus: Exclude<RunStatus, 'shadow'> | null;
}

/** One row per date from `from` to `to`, dates with no run included. */
export async function dateStatuses(db: Queryable, job: string, from: string, to: string): Promise<DateStatus[]> {
  const { rows } = await db.query<DateStatus>(
    `select d::date::text as "date", p.run_id as "publishedRunId", pr.model_version as "publishedModel",
            last.run_id as "lastRunId", last.status as "lastStatus"
       from generate_series($2::date, $3::date, interval '1 day') d
       left join batchcast.published p on p.job = $1 and p.prediction_date = d::date
       left join batchcast.runs pr on pr.run_id = p.run_id
       left join lateral (select r.run_id, r.status from batchcast.runs r
                           where r.job = $1 and r.prediction_date = d::date and r.status <> 'shadow'
                           order by r.run_id desc limit 1) last on true
      order by d`,
    [job, from, to],
  );
  return rows;
}

/** The newest date of the job with a succeeded run: where catch-up starts from. */
export async function lastSucceededDate(db: Queryable, job: string): Promise<string | undefined> {
  const { rows } = await db.query<{ date: string | null }>(
    `select max(prediction_date)::text as date from batchcast.runs where job = $1 and status = 'succeeded'`,
    [job],
  );
  return rows[0]?.date ?? undefined;
}

/** The run that holds the date back, when the date's newest run (shadow runs aside) was held by a gate. */
export async function heldRun(db: Queryable, job: string, date: string): Promise<number | undefined> {
  const { rows } = await db.query<{ run_id: string; status: string }>(
    `select run_id, status from batchcast.runs where job = $1 and prediction_date = $2 and status <> 'shadow' order by run_id desc limit 1`,
    [job, date],
  );
  return rows[0]?.status === 'held' ? Number(rows[0].run_id) : undefined;
}

export async function hasSucceeded(db: Queryable, job: string, date: string): Promise<boolean> {
  const { rows } = await db.query(`select 1 from batchcast.runs where job = $1 and prediction_date = $2 and status = 'succeeded' limit 1`, [
    job,
    date,
  ]);
  return rows.length > 0;
}
