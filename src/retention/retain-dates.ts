// Retention by date (job retention.days, batchcast prune --older-than N): every date more than N days older
// than the job's newest published date goes away. Its published generation is archived first when the
// job says so (retention.archive), then its pointer row is deleted (the date is no longer served), then
// every run table of the date is detached CONCURRENTLY and dropped (dropRunTable), so readers are never
// blocked. Ledger rows stay, marked pruned_at (and archived_to for the archived run).
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { datesToRetire, markPruned, unprunedRunIds } from '../store/ledger.ts';
import { releaseRunLock, tryRunLock } from '../store/locks.ts';
import { keptWindow, publishedRun, unpublishDate } from '../store/pointer.ts';
import type { Queryable } from '../store/queryable.ts';
import { dropRunTable, finalizePendingDetaches } from '../store/run-tables.ts';
import { dropOrphanShardTables } from '../store/shard-tables.ts';
import { type Archived, archiveGeneration } from './archive-generation.ts';
import { isLockTimeout, withLockTimeout } from './with-lock-timeout.ts';

export interface DateRetentionRequest {
  job: string;
  /** Dates older than (newest published date - days) go. */
  days: number;
  /** Absolute path template with {job} and {date}; undefined: drop without archiving. */
  archive: string | undefined;
  /** DuckDB's memory cap while archiving (config duckdbMemoryLimit). */
  memoryLimit: string;
  /** statement_timeout of the archive COPY (config archiveTimeoutMs) */
  archiveTimeoutMs: number;
  /** lock_timeout of each DETACH and DROP (config retentionLockTimeoutMs) */
  lockTimeoutMs: number;
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
  /** dates skipped because a run of them held the lock, or a reader outlasted lockTimeoutMs; the next retention takes them */
  skippedBusy: string[];
}

/**
 * Applies the rule to one job. `client` must be a dedicated connection outside any transaction: it takes
 * each date's run lock (so no run or rollback of that date races the drop) and runs DETACH CONCURRENTLY.
 */
export async function retainDates(db: Db, client: Queryable, req: DateRetentionRequest, log?: Logger): Promise<DateRetentionResult> {
  const { job } = req;
  const range = await keptWindow(db.pool, job, req.days);
  const result: DateRetentionResult = {
    job,
    newest: range.newest ?? undefined,
    keepFrom: range.keepFrom ?? undefined,
    kept: range.kept,
    retired: [],
    skippedBusy: [],
  };
  if (!range.keepFrom) return result;
  for (const date of await datesToRetire(db.pool, job, range.keepFrom)) {
    if (!(await tryRunLock(client, job, date))) {
      result.skippedBusy.push(date);
      log?.warn(`retention: job ${job}, date ${date} is busy (a run or rollback holds its lock); left for the next retention`, { date });
      continue;
    }
    try {
      result.retired.push(await withLockTimeout(client, req.lockTimeoutMs, () => retireDate(db, client, req, date)));
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
      result.skippedBusy.push(date);
      log?.warn(
        `retention: job ${job}, date ${date}: a reader (an export?) held a table of the date for more than ${req.lockTimeoutMs} ms ` +
          '(retentionLockTimeoutMs); the date is no longer served and its tables are left for the next retention',
        { date },
      );
    } finally {
      await releaseRunLock(client, job, date);
    }
  }
  // a retired date's unfinished sharded generation (now marked failed) leaves its shards' tables
  if (result.retired.length) await dropOrphanShardTables(client);
  for (const r of result.retired) {
    log?.info(
      `retention: job ${job}, date ${r.date} ${r.archived ? `archived (run ${r.publishedRunId}, ${r.archived.rows} rows) to ${r.archived.path} and ` : ''}` +
        `dropped (runs ${r.dropped.join(', ') || 'none'})`,
      { date: r.date, archived: r.archived?.path ?? null, dropped: r.dropped },
    );
  }
  log?.info(
    `retention: job ${job} keeps ${result.kept} published date(s), ${result.keepFrom} to ${result.newest} (retention.days ${req.days})`,
  );
  return result;
}

/** Under the date's lock: archive the published run, remove the pointer, drop every run table of the date. */
async function retireDate(db: Db, client: Queryable, req: DateRetentionRequest, date: string): Promise<RetiredDate> {
  const { job } = req;
  const pub = await publishedRun(db.pool, job, date);
  const archived =
    pub && req.archive
      ? await archiveGeneration(db, {
          job,
          date,
          runId: pub.runId,
          modelVersion: pub.modelVersion,
          template: req.archive,
          memoryLimit: req.memoryLimit,
          timeoutMs: req.archiveTimeoutMs,
        })
      : undefined;
  if (pub) await unpublishDate(db.pool, job, date);
  await finalizePendingDetaches(client);
  const dropped: number[] = [];
  for (const runId of await unprunedRunIds(db.pool, job, date)) {
    await dropRunTable(client, runId);
    // we hold the date's lock, so a run still marked running has no process any more
    await markPruned(db.pool, runId, 'retention', runId === pub?.runId ? (archived?.path ?? null) : null);
    dropped.push(runId);
  }
  return { date, publishedRunId: pub?.runId, archived, dropped };
}

/** The job's own rule, after a run (predict): nothing when the job sets no retention.days. */
export async function retainJobDates(
  db: Db,
  client: Queryable,
  job: JobDefinition,
  config: Pick<Config, 'duckdbMemoryLimit' | 'archiveTimeoutMs' | 'retentionLockTimeoutMs'>,
  log?: Logger,
): Promise<DateRetentionResult | undefined> {
  if (job.retention.days === undefined) return undefined;
  return retainDates(
    db,
    client,
    {
      job: job.name,
      days: job.retention.days,
      archive: job.retention.archive,
      memoryLimit: config.duckdbMemoryLimit,
      archiveTimeoutMs: config.archiveTimeoutMs,
      lockTimeoutMs: config.retentionLockTimeoutMs,
    },
    log,
  );
}
