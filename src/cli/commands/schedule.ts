// `batchcast schedule`: the scheduled jobs run on their cron expressions, with catch-up; --once for a
// system cron or a Kubernetes CronJob; --dry-run (or `schedule next`) to preview.
import { BadInputError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';
import { stopOnSignals } from '../signals.ts';

export function scheduleCommand(program: Command): void {
  globalOptions(program.command('schedule'))
    .description('run scheduled jobs on their cron expressions, catching up missed dates; stops cleanly on SIGTERM')
    .argument('[next]', '"next": the same as --dry-run')
    .option('--job <name...>', 'only these jobs (default: every job in jobs/ with a "schedule")')
    .option('--once', 'run what is due now (catch-up included) and exit: for system cron or a Kubernetes CronJob')
    .option('--dry-run', 'run nothing: list per job the dates due now (catch-up) and the next runs, with where the schedule starts')
    .option('--workers <n>', 'inference worker threads per run', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .action(async (next: string | undefined, opts: GlobalFlags & { job?: string[]; once?: boolean; dryRun?: boolean }) => {
      if (next !== undefined && next !== 'next')
        throw new BadInputError(`schedule takes no argument but "next" (a preview, as --dry-run); got ${JSON.stringify(next)}`);
      const ctx = await context(opts);
      if (opts.dryRun || next === 'next') {
        const [{ previewSchedule }, { printSchedulePreview }] = await Promise.all([
          import('../../schedule/preview-schedule.ts'),
          import('../output/schedule-preview.ts'),
        ]);
        printSchedulePreview(await withDb(ctx, (db) => previewSchedule({ config: ctx.config, db: db.pool, jobs: opts.job })), opts);
        return;
      }
      const { failOnFailedDates, printDateOutcomes } = await import('../output/ledger.ts');
      const { signal } = stopOnSignals({ log: ctx.log, stopping: 'the scheduler' });
      const started = performance.now();
      const { runScheduler } = await import('../../schedule/scheduler.ts');
      const dates = await withDb(ctx, (db) =>
        runScheduler({
          config: ctx.config,
          db,
          log: ctx.log,
          jobs: opts.job,
          once: !!opts.once,
          until: signal,
        }),
      );
      if (!opts.once) return; // stopped by a signal: a clean stop exits 0 whatever the last run did
      const { exitCodeFor } = await import('../../schedule/date-outcome.ts');
      const result = { dates, seconds: (performance.now() - started) / 1000, exitCode: exitCodeFor(dates) };
      printDateOutcomes(result, opts);
      failOnFailedDates(result);
    });
}
