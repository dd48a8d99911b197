// `batchcast backfill`: every date of a range, each in its own process, skipping dates already published
// with the current model.

import type { Reprocess } from '../../schedule/backfill.ts';
import { type Command, Option } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';
import { stopOnSignals } from '../signals.ts';

// The list here, not imported, so --help does not load the scheduler (schedule/backfill.ts checks it again).
const reprocessChoices: readonly Reprocess[] = ['none', 'failed', 'all'];

interface BackfillFlags extends GlobalFlags {
  job: string;
  from: string;
  to: string;
  concurrency: number;
  reprocess: Reprocess;
  dryRun?: boolean;
  backwards?: boolean;
}

export function backfillCommand(program: Command): void {
  globalOptions(program.command('backfill'))
    .description('run every date of a range, skipping dates already published with the current model')
    .requiredOption('--job <name>', 'job name (a file in jobs/)')
    .requiredOption('--from <YYYY-MM-DD>', 'first date')
    .requiredOption('--to <YYYY-MM-DD>', 'last date (inclusive)')
    .option('--concurrency <n>', 'dates run at the same time, each in its own process', int('--concurrency'), 1)
    .addOption(
      new Option('--reprocess <which>', 'rerun dates that are already published: none, failed (newest run failed) or all')
        .choices(reprocessChoices as string[])
        .default('none'),
    )
    .option('--dry-run', 'print what would run, run nothing')
    .option('--backwards', 'newest date first')
    .option('--workers <n>', 'inference worker threads per run', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .action(async (opts: BackfillFlags) => {
      const { failOnFailedDates, printDateOutcomes } = await import('../output/ledger.ts');
      const { backfillProgress, besideProgress } = await import('../output/progress.ts');
      const ctx = await context(opts);
      const { signal } = stopOnSignals({
        log: ctx.log,
        stopping: 'the backfill: runs in progress publish nothing; rerun the same command to resume',
      });
      const onUpdate = opts.quiet || opts.json ? undefined : backfillProgress();
      // With a progress display the runs' own chatter would scroll it away: show only their warnings.
      const runLog = onUpdate ? besideProgress((await import('../../log.ts')).createLogger({ level: 'warn', json: false })) : undefined;
      const { backfill } = await import('../../schedule/backfill.ts');
      const result = await withDb(ctx, (db) =>
        backfill({
          job: opts.job,
          from: opts.from,
          to: opts.to,
          concurrency: opts.concurrency,
          reprocess: opts.reprocess,
          dryRun: !!opts.dryRun,
          backwards: !!opts.backwards,
          config: ctx.config,
          db,
          log: ctx.log,
          runLog,
          signal,
          onUpdate,
        }),
      );
      printDateOutcomes(result, opts);
      failOnFailedDates(result);
    });
}
