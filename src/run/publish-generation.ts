// Run operations for people: read the ledger, point a date at another generation (rollback), prune tables.
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { connectClient, type Db } from '../db/connect.ts';
import { migrate } from '../store/migrate.ts';
import { BadInputError } from '../errors.ts';
import { listJobs, loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { getRun, listRuns, type RunFilter, type RunRow } from '../store/ledger.ts';
import { acquireRunLock } from '../store/locks.ts';
import { pruneGenerations, type PruneResult } from '../retention/prune-generations.ts';
import { retainDates, type DateRetentionResult } from '../retention/retain-dates.ts';
import { publishRun } from '../store/pointer.ts';
import { runTable } from '../store/run-tables.ts';

export type LedgerRow = RunRow & { published: boolean };

export async function showRuns(db: Db, filter: RunFilter): Promise<LedgerRow[]> {
  await migrate(db.pool);
  return listRuns(db.pool, filter);
}

export interface PublishOutcome {
  job: string;
  date: string;
  runId: number;
  previousRunId: number | undefined;
  action: 'publish' | 'rollback' | 'override' | 'unchanged';
  ms: number;
}

/** Throws unless the run's table is still an attached partition, i.e. readers would find its rows. */
async function checkTable(db: Pick<pg.ClientBase, 'query'>, run: RunRow, where: string): Promise<void> {
  const { rows } = await db.query<{ attached: boolean }>(
    `select exists (select 1 from pg_inherits i
                     where i.inhrelid = to_regclass($1) and i.inhparent = 'batchcast.predictions'::regclass
                       and not i.inhdetachpending) as attached`,
    [runTable(run.run_id)],
  );
  if (!rows[0].attached) {
    throw new BadInputError(`${where}: its predictions table ${runTable(run.run_id)} is gone or detached; rerun the date instead: ` +
      `batchcast backfill --job ${run.job} --from ${run.prediction_date} --to ${run.prediction_date} --reprocess all`);
  }
}

/**
 * Points (job, date) of run R at R: usually an older succeeded generation (rollback), served from the next
 * query on. Takes the run lock of (job, date), so it cannot race a run of that date that would publish over it.
 */
export async function publishGeneration(db: Db, config: Config, runId: number, reason?: string): Promise<PublishOutcome> {
  await migrate(db.pool);
  const run = await getRun(db.pool, runId);
  if (!run) throw new BadInputError(`run ${runId} does not exist; list runs with: batchcast runs`);
  const { job, prediction_date: date } = run;
  const where = `run ${runId} (job ${job}, date ${date})`;
  const others = `see the runs of that date with: batchcast runs --job ${job} --date ${date}`;
  if (run.status === 'failed') throw new BadInputError(`${where} failed (${run.error ?? 'no reason recorded'}); only a succeeded run can be published; ${others}`);
  if (run.status === 'running') throw new BadInputError(`${where} is still running; it publishes itself when it succeeds; ${others}`);
  if (run.pruned_at) {
    throw new BadInputError(`${where} was pruned at ${run.pruned_at.toISOString()} and its table is gone; ${others}, or rerun the date: ` +
      `batchcast backfill --job ${job} --from ${date} --to ${date} --reprocess all`);
  }
  // A held or shadow run is published only on a person's word: action override, the reason logged.
  const override = run.status === 'held' || run.status === 'shadow';
  const why = reason?.trim() || (run.status === 'shadow' ? `promoted shadow run ${runId}` : undefined);
  if (run.status === 'held' && !why) {
    throw new BadInputError(`${where} was held back by a gate (${run.error ?? 'see batchcast.gate_verdicts'}); to publish it anyway say why: batchcast publish --run ${runId} --reason "..."`);
  }
  await checkTable(db.pool, run, where);

  const lock = await acquireRunLock(db.url, config, job, date);
  try {
    const { rows } = await lock.client.query<{ run_id: number }>(
      'select run_id from batchcast.published where job = $1 and prediction_date = $2', [job, date]);
    const current = rows[0]?.run_id;
    if (current === runId) return { job, date, runId, previousRunId: current, action: 'unchanged', ms: 0 };
    const action = override ? 'override' : current !== undefined && runId < current ? 'rollback' : 'publish';
    // Checked again inside the publishing transaction: a prune may have dropped the table meanwhile.
    const pub = await publishRun(lock.client, { job, date, runId, action, reason: override ? why : reason, lockTimeoutMs: config.publishLockTimeoutMs },
      async (tx) => {
        await checkTable(tx, run, where);
        // once served, the date is done: the scheduler and backfill count it as succeeded
        if (override) await tx.query(`update batchcast.runs set status = 'succeeded', error = null where run_id = $1`, [runId]);
      });
    return { job, date, runId, previousRunId: pub.previousRunId, action, ms: pub.ms };
  } finally {
    await lock.release();
  }
}

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
    throw new BadInputError('say what to prune: --keep N (generations per date), --older-than N (days before the newest published date), or both');
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
    const outcome: PruneOutcome = req.keep === undefined
      ? { dropped: [], skippedBusy: [], retention: [] }
      : { ...await pruneGenerations(db, client, { job: req.job, date: req.date, keep: req.keep, lockDates: true }), retention: [] };
    if (req.olderThan !== undefined) {
      const jobs = req.job ? [req.job] : (await db.pool.query<{ job: string }>('select distinct job from batchcast.published order by job')).rows.map((r) => r.job);
      for (const job of jobs) {
        // the job file's archive rule applies by hand too; a job without a file any more is dropped unarchived
        const archive = listJobs(config.jobsDir).includes(job) ? loadJob(config.jobsDir, job, config.root).retention.archive : undefined;
        outcome.retention.push(await retainDates(db, client, { job, days: req.olderThan, archive, memoryLimit: config.duckdbMemoryLimit }, log));
      }
    }
    return outcome;
  } finally {
    await client.end().catch(() => {});
  }
}
