// `batchcast prune`: retention on demand, by generations per date and/or by the age of the date.

import { parseDate } from '../../dates.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

export function pruneCommand(program: Command): void {
  globalOptions(program.command('prune'))
    .description(
      'drop the tables of failed runs and of unpublished generations beyond N per date, and/or whole dates older than N days, without blocking readers',
    )
    .option('--keep <n>', 'generations to keep per (job, date), the published one included', int('--keep'))
    .option(
      '--older-than <days>',
      "drop every date more than N days older than the job's newest published date (archived first when the job sets retention.archive)",
      int('--older-than'),
    )
    .option('--job <name>', 'only this job')
    .option('--date <YYYY-MM-DD>', 'only this prediction date (with --keep)')
    .action(async (opts: GlobalFlags & { keep?: number; olderThan?: number; job?: string; date?: string }) => {
      const { printPrune } = await import('../output/ledger.ts');
      const ctx = await context(opts);
      const date = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
      const { pruneTables } = await import('../../retention/prune-tables.ts');
      const result = await withDb(ctx, (db) =>
        pruneTables(db, ctx.config, { keep: opts.keep, olderThan: opts.olderThan, job: opts.job, date }, ctx.log),
      );
      printPrune(result, opts);
    });
}
