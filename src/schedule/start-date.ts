// Where a job's schedule starts: catch-up never goes before it, so a new job does not fail the dates from
// before its data existed (Airflow's start_date). schedule.start_date when the job file sets it; else the
// earliest date with files on disk; else the job's first run in the ledger; else the run about to be its
// first: the latest tick's date, so a job with no data and no run yet catches nothing up.
import type { Config } from '../config/load-config.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { partitionDates } from '../read/partition-dates.ts';
import type { Queryable } from '../store/queryable.ts';
import { firstRunDate } from '../store/waiting-runs.ts';
import { latestTick } from './ticks.ts';

export interface StartDate {
  date: string | undefined;
  /** where it came from, for the preview and the log */
  from: 'job file' | 'earliest data' | 'first run' | 'none';
}

/** The job's DuckDB settings: the configured extensions (httpfs for s3:// paths) and one thread. */
export function duckOptions(config: Config) {
  return { threads: 1, ...config.duckdb };
}

export async function startDateOf(job: JobDefinition, db: Queryable | undefined, config: Config, now: Date): Promise<StartDate> {
  if (job.schedule?.startDate) return { date: job.schedule.startDate, from: 'job file' };
  // Files that cannot be listed (a bucket without credentials here) fall back to the ledger.
  const dates = await withDuckDB(duckOptions(config), (conn) => partitionDates(conn, job)).catch(() => [] as string[]);
  if (dates.length) return { date: dates[0], from: 'earliest data' };
  const first = db && (await firstRunDate(db, job.name).catch(() => undefined));
  if (first) return { date: first, from: 'first run' };
  const latest = job.schedule && latestTick(job.schedule, now);
  return latest ? { date: latest.date, from: 'first run' } : { date: undefined, from: 'none' };
}
