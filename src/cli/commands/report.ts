// `batchcast report`: flags -> loadReport -> terminal tables, JSON, or a self-contained HTML page.
import path from 'node:path';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

interface ReportFlags extends GlobalFlags {
  run?: number;
  job?: string;
  date?: string;
  reference?: number;
  html?: string;
}

export function reportCommand(program: Command): void {
  globalOptions(program.command('report'))
    .description("a run's input and output profiles, its comparison with the reference and its gate verdicts")
    .option('--run <id>', 'run id (see batchcast runs)', int('--run'))
    .option('--job <name>', 'with --date: the run published for that date, else the newest run of it')
    .option('--date <YYYY-MM-DD>', 'prediction date (with --job)')
    .option('--reference <id>', 'show the comparison with this run instead of the reference (see batchcast compare)', int('--reference'))
    .option('--html <file>', 'also write one self-contained HTML page with charts to this file')
    .action(async (opts: ReportFlags) => {
      const { printReport } = await import('../output/report.ts');
      const ctx = await context(opts);
      const { loadReport } = await import('../../report/load-report.ts');
      const report = await withDb(ctx, (db) =>
        loadReport(db, { run: opts.run, job: opts.job, date: opts.date, reference: opts.reference }),
      );
      const file = opts.html === undefined ? undefined : path.resolve(opts.html);
      if (file) (await import('../../report/html-report.ts')).writeReportHtml(report, file);
      printReport(report, opts, file);
    });
}
