// The scheduling and operations commands. Each handler only translates flags into the options object of the
// function the tests call (runScheduler, backfill, showRuns, publishGeneration, pruneTables) and prints.
import { Command, Option } from 'commander';
import { context, globalOptions, int, withDb, type GlobalFlags } from '../context.ts';
import { backfillProgress, besideProgress, printDateOutcomes, printPrune, printPublish, printRuns } from '../output/output.ts';
import { createLogger, type Logger } from '../../log.ts';
import { parseDate } from '../../dates.ts';
import type { Reprocess } from '../../schedule/backfill.ts';
import { DatesFailedError, exitCodeFor, failureSummary, type DateOutcome } from '../../schedule/date-outcome.ts';

// Loaded when a command runs, not for --help (they pull in pg, DuckDB, node-cron).
const operations = () => import('../../run/publish-generation.ts');
const reprocessChoices: readonly Reprocess[] = ['none', 'failed', 'all'];

/**
 * The first SIGINT/SIGTERM asks for a clean stop (the scheduler waits for its run, a backfill stops its
 * runs and starts no new date). A second Ctrl-C gets node's default: exit at once.
 */
function stopOnSignals(log: Logger, what: string): AbortController {
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (ac.signal.aborted) return;
      log.warn(`${sig}: stopping ${what}`);
      ac.abort(new Error(`interrupted by ${sig}`));
    });
  }
  return ac;
}

/** Exit code of the batch, with a one-line summary on stderr, after the table was printed. */
function finish(r: { dates: DateOutcome[]; exitCode: number }): void {
  if (r.exitCode !== 0) throw new DatesFailedError(failureSummary(r.dates), r.exitCode);
}

export function registerScheduleCommands(program: Command): void {
  globalOptions(program.command('schedule'))
    .description('run scheduled jobs on their cron expressions, catching up missed dates; stops cleanly on SIGTERM')
    .option('--job <name...>', 'only these jobs (default: every job in jobs/ with a "schedule")')
    .option('--once', 'run what is due now (catch-up included) and exit: for system cron or a Kubernetes CronJob')
    .option('--workers <n>', 'inference worker threads per run', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .action(async (opts: GlobalFlags & { job?: string[]; once?: boolean }) => {
      const ctx = context(opts);
      const ac = stopOnSignals(ctx.log, 'the scheduler');
      const started = performance.now();
      const { runScheduler } = await import('../../schedule/scheduler.ts');
      const dates = await withDb(ctx, (db) => runScheduler({
        config: ctx.config, db, log: ctx.log, jobs: opts.job, once: !!opts.once, until: ac.signal,
      }));
      if (!opts.once) return; // stopped by a signal: a clean stop exits 0 whatever the last run did
      const result = { dates, seconds: (performance.now() - started) / 1000, exitCode: exitCodeFor(dates) };
      printDateOutcomes(result, opts);
      finish(result);
    });

  globalOptions(program.command('backfill'))
    .description('run every date of a range, skipping dates already published with the current model')
    .requiredOption('--job <name>', 'job name (a file in jobs/)')
    .requiredOption('--from <YYYY-MM-DD>', 'first date')
    .requiredOption('--to <YYYY-MM-DD>', 'last date (inclusive)')
    .option('--concurrency <n>', 'dates run at the same time, each in its own process', int('--concurrency'), 1)
    .addOption(new Option('--reprocess <which>', 'rerun dates that are already published: none, failed (newest run failed) or all')
      .choices(reprocessChoices as string[]).default('none'))
    .option('--dry-run', 'print what would run, run nothing')
    .option('--backwards', 'newest date first')
    .option('--workers <n>', 'inference worker threads per run', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .action(async (opts: GlobalFlags & { job: string; from: string; to: string; concurrency: number; reprocess: Reprocess; dryRun?: boolean; backwards?: boolean }) => {
      const ctx = context(opts);
      const ac = stopOnSignals(ctx.log, 'the backfill: runs in progress publish nothing; rerun the same command to resume');
      const onUpdate = opts.quiet || opts.json ? undefined : backfillProgress();
      // With a progress display the runs' own chatter would scroll it away: show only their warnings.
      const runLog = onUpdate ? besideProgress(createLogger({ level: 'warn', json: false })) : undefined;
      const { backfill } = await import('../../schedule/backfill.ts');
      const result = await withDb(ctx, (db) => backfill({
        job: opts.job, from: opts.from, to: opts.to, concurrency: opts.concurrency, reprocess: opts.reprocess,
        dryRun: !!opts.dryRun, backwards: !!opts.backwards, config: ctx.config, db, log: ctx.log, runLog, signal: ac.signal, onUpdate,
      }));
      printDateOutcomes(result, opts);
      finish(result);
    });

  globalOptions(program.command('runs'))
    .description('the run ledger, newest first')
    .option('--job <name>', 'only this job')
    .option('--date <YYYY-MM-DD>', 'only this prediction date')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(['running', 'succeeded', 'failed', 'held', 'shadow']))
    .option('--limit <n>', 'at most this many runs', int('--limit'), 50)
    .action(async (opts: GlobalFlags & { job?: string; date?: string; status?: string; limit: number }) => {
      const ctx = context(opts);
      const date = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
      const runs = await withDb(ctx, async (db) => (await operations()).showRuns(db, { job: opts.job, date, status: opts.status, limit: opts.limit }));
      printRuns(runs, opts);
    });

  globalOptions(program.command('publish'))
    .description("serve run R for its (job, date): instant rollback to an older generation, or publish a held or shadow run after review")
    .requiredOption('--run <id>', 'run id (see batchcast runs)', int('--run'))
    .option('--reason <text>', 'why a held or shadow run is published anyway (required for a held run; logged in batchcast.publish_log)')
    .action(async (opts: GlobalFlags & { run: number; reason?: string }) => {
      const ctx = context(opts);
      const outcome = await withDb(ctx, async (db) => (await operations()).publishGeneration(db, ctx.config, opts.run, opts.reason));
      printPublish(outcome, opts);
    });

  globalOptions(program.command('prune'))
    .description('drop the tables of failed runs and of unpublished generations beyond N per date, and/or whole dates older than N days, without blocking readers')
    .option('--keep <n>', 'generations to keep per (job, date), the published one included', int('--keep'))
    .option('--older-than <days>', "drop every date more than N days older than the job's newest published date (archived first when the job sets retention.archive)", int('--older-than'))
    .option('--job <name>', 'only this job')
    .option('--date <YYYY-MM-DD>', 'only this prediction date (with --keep)')
    .action(async (opts: GlobalFlags & { keep?: number; olderThan?: number; job?: string; date?: string }) => {
      const ctx = context(opts);
      const date = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
      const result = await withDb(ctx, async (db) => (await operations()).pruneTables(db, ctx.config, { keep: opts.keep, olderThan: opts.olderThan, job: opts.job, date }, ctx.log));
      printPrune(result, opts);
    });
}
