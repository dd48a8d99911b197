// `batchcast prune`: retention on demand, by generations per date (prune-generations.ts) and/or by age of
// the date (retain-dates.ts), on one dedicated connection that takes each date's run lock as it goes.
import type { Config } from '../config/load-config.ts';
import { connectClient, type Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { listJobs, loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { migrate } from '../store/migrate.ts';
import { publishedJobs } from '../store/pointer.ts';
import { type PruneResult, pruneGenerations } from './prune-generations.ts';
import { type DateRetentionResult, retainDates } from './retain-dates.ts';

export interface PruneRequest {
  /** generations to keep per (job, date), the published one included */
  keep?: number;
  /** retention by date: drop dates more than N days older than each job's newest published date */
  olderThan?: number;
  job?: string;
  date?: string;
}

export interface PruneOutcome extends PruneResult {
  /** per job, when olderThan was given */
  retention: DateRetentionResult[];
}

/**
 * Retention on demand: drops failed, abandoned and superseded generations beyond `keep` per (job, date),
 * and/or whole dates older than `olderThan` days before each job's newest published date (archived first
 * when the job file sets retention.archive).
 */
export async function pruneTables(db: Db, config: Config, req: PruneRequest, log?: Logger): Promise<PruneOutcome> {
  if (req.keep === undefined && req.olderThan === undefined) {
    throw new BadInputError(
      'say what to prune: --keep N (generations per date), --older-than N (days before the newest published date), or both',
    );
  }
  if (req.keep !== undefined && (!Number.isInteger(req.keep) || req.keep < 1)) {
    throw new BadInputError(`--keep ${req.keep} must be 1 or more: the published generation always stays, and counts as one`);
  }
  if (req.olderThan !== undefined && (!Number.isInteger(req.olderThan) || req.olderThan < 1)) {
    throw new BadInputError(`--older-than ${req.olderThan} must be 1 or more days: the newest published date always stays`);
  }
  if (req.olderThan !== undefined && req.date !== undefined) {
    throw new BadInputError('--older-than applies to whole jobs; leave out --date (or use --keep with --date)');
  }
  await migrate(db.pool);
  // No statement timeout: DETACH CONCURRENTLY waits for readers still using the table, by design.
  const client = await connectClient(db.url, config, { applicationName: 'batchcast prune', statementTimeoutMs: 0, onError: () => {} });
  try {
    const outcome: PruneOutcome =
      req.keep === undefined
        ? { dropped: [], skippedBusy: [], retention: [] }
        : {
            ...(await pruneGenerations(db, client, {
              job: req.job,
              date: req.date,
              keep: req.keep,
              lockDates: true,
              lockTimeoutMs: config.retentionLockTimeoutMs,
            })),
            retention: [],
          };
    if (req.olderThan !== undefined) {
      const jobs = req.job ? [req.job] : await publishedJobs(db.pool);
      for (const job of jobs) {
        // the job file's archive rule applies by hand too; a job without a file any more is dropped unarchived
        const archive = listJobs(config.jobsDir).includes(job) ? loadJob(config.jobsDir, job, config.root).retention.archive : undefined;
        outcome.retention.push(
          await retainDates(
            db,
            client,
            {
              job,
              days: req.olderThan,
              archive,
              memoryLimit: config.duckdbMemoryLimit,
              archiveTimeoutMs: config.archiveTimeoutMs,
              lockTimeoutMs: config.retentionLockTimeoutMs,
            },
            log,
          ),
        );
      }
    }
    return outcome;
  } finally {
    await client.end().catch(() => {});
  }
}
