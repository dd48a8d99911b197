// `batchcast backfill`: every date of a range, each as a child run, at most `concurrency` at a time.
// A new date starts as soon as any slot frees (p-limit), not when the slowest date of a batch ends
// (Airflow #38954). A failed date is recorded and the others go on. Interrupting is safe: runs in progress
// are stopped cleanly (nothing published), and a rerun skips what is already published with this model.
import pLimit from 'p-limit';
import type { Config } from '../config/load-config.ts';
import { dateRange } from '../dates.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError, describeError, exitCodeOf } from '../errors.ts';
import { modelInfo } from '../infer/model-info.ts';
import { loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { claimDate } from '../store/claim-date.ts';
import { type DateStatus, dateStatuses } from '../store/date-statuses.ts';
import { migrate } from '../store/migrate.ts';
import { type DateOutcome, exitCodeFor, heldOutcome } from './date-outcome.ts';
import { spawnRun } from './spawn-run.ts';

export type Reprocess = 'none' | 'failed' | 'all';
export const reprocessChoices: readonly Reprocess[] = ['none', 'failed', 'all'];

export interface BackfillOptions {
  job: string;
  from: string;
  to: string;
  /** dates run at once; each is a child process with the configured workers */
  concurrency: number;
  /**
   * none: skip dates published with the current model version (default);
   * failed: also rerun dates whose newest run failed, even if an older generation is published;
   * all: rerun every date.
   */
  reprocess: Reprocess;
  dryRun: boolean;
  /** newest date first: yesterday matters more than last month */
  backwards: boolean;
  config: Config;
  db: Db;
  log: Logger;
  /** where the runs' own log lines go (default: log); a terminal shows only their warnings */
  runLog?: Logger;
  signal?: AbortSignal;
  /** called when a date starts and when it ends, for progress displays */
  onUpdate?: (u: BackfillProgress) => void;
}

export interface BackfillProgress {
  total: number;
  done: number;
  running: number;
  failed: number;
  last?: DateOutcome;
}

export interface BackfillResult {
  job: string;
  from: string;
  to: string;
  modelVersion: string;
  dates: DateOutcome[];
  seconds: number;
  exitCode: number;
}

/** Why a date needs no run, or undefined when it does. */
export function skipReason(s: DateStatus, modelVersion: string, reprocess: Reprocess): string | undefined {
  if (reprocess === 'all') return undefined;
  if (s.lastStatus === 'running') return undefined; // its run may be dead; ours takes the lock or reports busy
  if (reprocess === 'failed' && s.lastStatus === 'failed') return undefined;
  if (s.publishedRunId !== null && s.publishedModel === modelVersion)
    return `published as run ${s.publishedRunId} with model ${modelVersion}`;
  return undefined;
}

export async function backfill(o: BackfillOptions): Promise<BackfillResult> {
  const t0 = performance.now();
  const dates = dateRange(o.from, o.to);
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 64) {
    throw new BadInputError(`--concurrency ${o.concurrency} must be between 1 and 64`);
  }
  if (!reprocessChoices.includes(o.reprocess))
    throw new BadInputError(`--reprocess must be one of ${reprocessChoices.join(', ')} (got ${o.reprocess})`);
  const job = loadJob(o.config.jobsDir, o.job, o.config.root);
  const model = await modelInfo(job);
  await migrate(o.db.pool);

  const statuses = new Map((await dateStatuses(o.db.pool, job.name, o.from, o.to)).map((s) => [s.date, s]));
  const order = o.backwards ? [...dates].reverse() : dates;
  const outcomes = new Map<string, DateOutcome>();
  const todo: string[] = [];
  for (const date of order) {
    const s = statuses.get(date)!;
    const reason = skipReason(s, model.version, o.reprocess);
    if (o.reprocess !== 'all' && s.lastStatus === 'held') outcomes.set(date, heldOutcome(job.name, date, s.lastRunId!));
    else if (reason)
      outcomes.set(date, { job: job.name, date, status: 'skipped', runId: statuses.get(date)!.publishedRunId ?? undefined, note: reason });
    else if (o.dryRun) outcomes.set(date, { job: job.name, date, status: 'planned', note: describePlan(statuses.get(date)!) });
    else todo.push(date);
  }
  const toRun = o.dryRun ? [...outcomes.values()].filter((x) => x.status === 'planned').length : todo.length;
  o.log.info(
    `backfill ${job.name} ${o.from}..${o.to}: ${toRun} to run, ${dates.length - toRun} skipped${o.dryRun ? ' (dry run: nothing runs)' : ''}`,
    { job: job.name, concurrency: o.concurrency, reprocess: o.reprocess, model: model.version },
  );

  const limit = pLimit(o.concurrency);
  const progress: BackfillProgress = { total: todo.length, done: 0, running: 0, failed: 0 };
  await Promise.all(
    todo.map((date) =>
      limit(async () => {
        progress.running++;
        o.onUpdate?.({ ...progress });
        // A date that cannot even be claimed (database gone) is a failed date, not the end of the backfill:
        // the other runs in progress still finish and are reported.
        const outcome = await runDate(o, job.name, date, model.version, statuses.get(date)!).catch(
          (err): DateOutcome => ({ job: job.name, date, status: 'failed', exitCode: exitCodeOf(err), note: describeError(err) }),
        );
        outcomes.set(date, outcome);
        progress.running--;
        progress.done++;
        if (outcome.status === 'failed' || outcome.status === 'interrupted') progress.failed++;
        o.onUpdate?.({ ...progress, last: outcome });
      }),
    ),
  );

  const list = order.map((d) => outcomes.get(d)!);
  return {
    job: job.name,
    from: o.from,
    to: o.to,
    modelVersion: model.version,
    dates: list,
    seconds: (performance.now() - t0) / 1000,
    exitCode: exitCodeFor(list),
  };
}

function describePlan(s: DateStatus): string {
  if (s.publishedRunId === null) return s.lastStatus ? `would run (newest run ${s.lastRunId} ${s.lastStatus})` : 'would run (never run)';
  return `would run (published run ${s.publishedRunId}, model ${s.publishedModel})`;
}

/** Claim, decide again with fresh facts (another backfill or the scheduler may have done it), run. */
async function runDate(o: BackfillOptions, job: string, date: string, modelVersion: string, planned: DateStatus): Promise<DateOutcome> {
  if (o.signal?.aborted) return { job, date, status: 'interrupted', note: 'not started: interrupted' };
  const claim = await claimDate(o.db.url, o.config, job, date);
  if (!claim) return { job, date, status: 'busy', note: 'a scheduler or another backfill is on this date; rerun later' };
  try {
    const [fresh] = await dateStatuses(o.db.pool, job, date, date);
    // --reprocess all reruns what was published when it started, but not what someone published since.
    const reason =
      o.reprocess !== 'all'
        ? skipReason(fresh, modelVersion, o.reprocess)
        : fresh.publishedRunId !== planned.publishedRunId
          ? skipReason(fresh, modelVersion, 'none')
          : undefined;
    if (reason) return { job, date, status: 'skipped', runId: fresh.publishedRunId ?? undefined, note: `${reason} meanwhile` };
    if (o.reprocess !== 'all' && fresh.lastStatus === 'held') return heldOutcome(job, date, fresh.lastRunId!);
    const run = await spawnRun({ job, date, config: o.config, dbUrl: o.db.url, log: o.runLog ?? o.log, signal: o.signal });
    const { result: _result, ...outcome } = run;
    if (outcome.status === 'busy') outcome.note = 'another process holds the run lock and is doing this date; rerun later';
    return outcome;
  } finally {
    await claim.release();
  }
}
