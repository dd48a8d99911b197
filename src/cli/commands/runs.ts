// `batchcast runs`: the run ledger, newest first.

import { parseDate } from '../../dates.ts';
import { RUN_STATUSES } from '../../store/tables.ts';
import { type Command, Option } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

export function runsCommand(program: Command): void {
  globalOptions(program.command('runs'))
    .description('the run ledger, newest first')
    .option('--job <name>', 'only this job')
    .option('--date <YYYY-MM-DD>', 'only this prediction date')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(RUN_STATUSES))
    .option('--limit <n>', 'at most this many runs', int('--limit'), 50)
    .action(async (opts: GlobalFlags & { job?: string; date?: string; status?: string; limit: number }) => {
      const { printRuns } = await import('../output/ledger.ts');
      const ctx = await context(opts);
      const date = opts.date === undefined ? undefined : parseDate(opts.date, '--date');
      const { showRuns } = await import('../../store/ledger.ts');
      const runs = await withDb(ctx, (db) => showRuns(db, { job: opts.job, date, status: opts.status, limit: opts.limit }));
      printRuns(runs, opts);
    });
}
