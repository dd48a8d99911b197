// The ledger rows of dates waiting for their input files (schedule.wait_for_data): one 'waiting' row per
// (job, date) while the scheduler looks for the files, so `batchcast runs` and the metrics show the wait.
// Its started_at is when the wait began, kept across scheduler restarts: the timeout counts from there.
import os from 'node:os';
import type { Queryable } from './queryable.ts';

export interface WaitingRun {
  runId: number;
  startedAt: Date;
}

/** The (job, date)'s waiting row, made when there is none. Called under the date's scheduling claim. */
export async function startWaiting(db: Queryable, job: string, date: string): Promise<WaitingRun> {
  const { rows } = await db.query<{ run_id: string; started_at: Date }>(
    `with found as (select run_id, started_at from batchcast.runs where job = $1 and prediction_date = $2 and status = 'waiting'),
          made as (insert into batchcast.runs (job, prediction_date, status, host, pid)
                   select $1, $2, 'waiting', $3, $4 where not exists (select 1 from found)
                   returning run_id, started_at)
     select * from found union all select * from made`,
    [job, date, os.hostname(), process.pid],
  );
  return { runId: Number(rows[0].run_id), startedAt: rows[0].started_at };
}

/** The files came: the waiting row goes, and the run that follows records how long it waited. */
export async function endWaiting(db: Queryable, runId: number): Promise<void> {
  await db.query(`delete from batchcast.runs where run_id = $1 and status = 'waiting'`, [runId]);
}

/** The timeout passed: the waiting row is closed as failed, with why. */
export async function markLate(db: Queryable, runId: number, error: string): Promise<void> {
  await db.query(`update batchcast.runs set status = 'failed', finished_at = now(), error = $2 where run_id = $1 and status = 'waiting'`, [
    runId,
    error,
  ]);
}

/**
 * Waiting rows of dates that have succeeded meanwhile (a scheduler killed while it waited, then the date run
 * by hand or by a backfill): nobody waits for them any more. Returns how many went.
 */
export async function clearStaleWaiting(db: Queryable, job: string): Promise<number> {
  const { rowCount } = await db.query(
    `delete from batchcast.runs w
      where w.job = $1 and w.status = 'waiting'
        and exists (select 1 from batchcast.runs s where s.job = w.job and s.prediction_date = w.prediction_date and s.status = 'succeeded')`,
    [job],
  );
  return rowCount ?? 0;
}

/** Adds one timing (milliseconds, as every timing) to a finished run's timings, e.g. how long its date waited for data. */
export async function addRunTiming(db: Queryable, runId: number, name: string, ms: number): Promise<void> {
  await db.query(
    `update batchcast.runs set timings = coalesce(timings, '{}'::jsonb) || jsonb_build_object($2::text, $3::float8) where run_id = $1`,
    [runId, name, ms],
  );
}

/** The job's first run's date (shadow runs aside): the default start of its schedule when no data is found. */
export async function firstRunDate(db: Queryable, job: string): Promise<string | undefined> {
  const { rows } = await db.query<{ date: string | null }>(
    `select min(prediction_date)::text as date from batchcast.runs where job = $1 and status <> 'shadow'`,
    [job],
  );
  return rows[0]?.date ?? undefined;
}
