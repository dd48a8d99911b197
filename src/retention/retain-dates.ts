// Retention by date (job retention.days, batchcast prune --older-than N): every date more than N days older
// than the job's newest published date goes away. Its published generation is archived first when the
// job says so (retention.archive), then its pointer row is deleted (the date is no longer served), then
// every run table of the date is detached CONCURRENTLY and dropped (dropRunTable), so readers are never
// blocked. Ledger rows stay, marked pruned_at (and archived_to for the archived run).
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { dropRunTable } from '../store/run-tables.ts';
import { archiveGeneration, type Archived } from './archive-generation.ts';
import { RUN_LOCK_KEY } from '../store/locks.ts';

export interface DateRetentionRequest {
  job: string;
  /** Dates older than (newest published date - days) go. */
  days: number;
  /** Absolute path template with {job} and {date}; undefined: drop without archiving. */
  archive: string | undefined;
  /** DuckDB's memory cap while archiving (config duckdbMemoryLimit). */
  memoryLimit: string;
}

export interface RetiredDate {
  date: string;
  /** the run the date served until now, if it was published */
  publishedRunId: number | undefined;
  archived: Archived | undefined;
  /** run ids whose tables were dropped */
  dropped: number[];
}

export interface DateRetentionResult {
  job: string;
  /** newest published date of the job; undefined when nothing is published */
  newest: string | undefined;
  /** oldest date kept */
  keepFrom: string | undefined;
  /** published dates kept (keepFrom..newest) */
  kept: number;
  retired: RetiredDate[];
  /** dates skipped because a run of them held the lock; the next retention takes them */
  skippedBusy: string[];
}

/**
 * Applies the rule to one job. `client` must be a dedicated connection outside any transaction: it takes
 * each date's run lock (so no run or rollback of that date races the drop) and runs DETACH CONCURRENTLY.
 */
export async function retainDates(db: Db, client: Pick<pg.ClientBase, 'query'>, req: DateRetentionRequest, log?: Logger): Promise<DateRetentionResult> {
  const { job } = req;
  const { rows: [range] } = await db.pool.query<{ newest: string | null; keep_from: string | null; kept: number }>(
    `with m as (select max(prediction_date) as newest from batchcast.published where job = $1)
     select m.newest::text as newest, (m.newest - $2::int)::text as keep_from,
            (select count(*)::int from batchcast.published p where p.job = $1 and p.prediction_date >= m.newest - $2::int) as kept
       from m`,
    [job, req.days],
  );
  const result: DateRetentionResult = { job, newest: range.newest ?? undefined, keepFrom: range.keep_from ?? undefined, kept: range.kept, retired: [], skippedBusy: [] };
  if (!range.keep_from) return result;
  // every older date that still has a pointer or a run table
  const { rows: dates } = await db.pool.query<{ date: string }>(
    `select prediction_date::text as date from batchcast.runs where job = $1 and prediction_date < $2 and pruned_at is null
     union
     select prediction_date::text from batchcast.published where job = $1 and prediction_date < $2
     order by 1`,
    [job, range.keep_from],
  );
  for (const { date } of dates) {
    const got = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${RUN_LOCK_KEY}) as ok`, [job, date]);
    if (!got.rows[0].ok) {
      result.skippedBusy.push(date);
      log?.warn(`retention: job ${job}, date ${date} is busy (a run or rollback holds its lock); left for the next retention`, { date });
      continue;
    }
    try {
      result.retired.push(await retireDate(db, client, req, date));
    } finally {
      await client.query(`select pg_advisory_unlock(${RUN_LOCK_KEY})`, [job, date]);
    }
  }
  for (const r of result.retired) {
    log?.info(`retention: job ${job}, date ${r.date} ${r.archived ? `archived (run ${r.publishedRunId}, ${r.archived.rows} rows) to ${r.archived.path} and ` : ''}` +
      `dropped (runs ${r.dropped.join(', ') || 'none'})`, { date: r.date, archived: r.archived?.path ?? null, dropped: r.dropped });
  }
  log?.info(`retention: job ${job} keeps ${result.kept} published date(s), ${result.keepFrom} to ${result.newest} (retention.days ${req.days})`);
  return result;
}

/** Under the date's lock: archive the published run, remove the pointer, drop every run table of the date. */
async function retireDate(db: Db, client: Pick<pg.ClientBase, 'query'>, req: DateRetentionRequest, date: string): Promise<RetiredDate> {
  const { job } = req;
  const { rows: [pub] } = await db.pool.query<{ run_id: number; model_version: string | null }>(
    `select p.run_id, r.model_version from batchcast.published p join batchcast.runs r on r.run_id = p.run_id
      where p.job = $1 and p.prediction_date = $2`,
    [job, date],
  );
  const archived = pub && req.archive
    ? await archiveGeneration(db, { job, date, runId: pub.run_id, modelVersion: pub.model_version, template: req.archive, memoryLimit: req.memoryLimit })
    : undefined;
  if (pub) await db.pool.query('delete from batchcast.published where job = $1 and prediction_date = $2', [job, date]);
  const { rows: runs } = await db.pool.query<{ run_id: number }>(
    'select run_id from batchcast.runs where job = $1 and prediction_date = $2 and pruned_at is null order by run_id', [job, date]);
  const dropped: number[] = [];
  for (const { run_id } of runs) {
    await dropRunTable(client, run_id);
    // we hold the date's lock, so a run still marked running has no process any more
    await db.pool.query(
      `update batchcast.runs set pruned_at = now(), archived_to = $2,
              status = case when status = 'running' then 'failed' else status end,
              error = case when status = 'running' then 'abandoned: its process died before finishing (found by retention)' else error end
        where run_id = $1`,
      [run_id, run_id === pub?.run_id ? archived?.path ?? null : null],
    );
    dropped.push(run_id);
  }
  return { date, publishedRunId: pub?.run_id, archived, dropped };
}

/** The job's own rule, after a run (predict): nothing when the job sets no retention.days. */
export async function retainJobDates(db: Db, client: Pick<pg.ClientBase, 'query'>, job: JobDefinition, config: Pick<Config, 'duckdbMemoryLimit'>, log?: Logger): Promise<DateRetentionResult | undefined> {
  if (job.retention.days === undefined) return undefined;
  return retainDates(db, client, { job: job.name, days: job.retention.days, archive: job.retention.archive, memoryLimit: config.duckdbMemoryLimit }, log);
}
