// `batchcast export`: flags -> exportGeneration. The data goes to --out (or stdout); the summary to stderr.

import type { ExportFormat } from '../../export/export-generation.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

// The list here, not imported, so --help does not load Arrow and DuckDB (export-generation.ts checks it again).
const EXPORT_FORMATS = ['arrow', 'parquet', 'csv', 'jsonl'] as const satisfies readonly ExportFormat[];

interface ExportFlags extends GlobalFlags {
  job: string;
  date: string;
  run?: number;
  format: ExportFormat;
  out: string;
}

export function exportCommand(program: Command): void {
  globalOptions(program.command('export'))
    .description('write one generation (user_id, item_ids, scores) as Arrow IPC, Parquet, CSV or JSON Lines')
    .requiredOption('--job <name>', 'job name')
    .requiredOption('--date <YYYY-MM-DD>', 'prediction date')
    .option('--run <id>', 'this run of (job, date) instead of the published generation', int('--run'))
    .requiredOption('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`)
    .requiredOption('--out <file>', 'output file, or - for stdout')
    .action(async (opts: ExportFlags) => {
      const ctx = await context(opts);
      const { exportGeneration } = await import('../../export/export-generation.ts');
      const result = await withDb(ctx, (db) =>
        exportGeneration({ pool: db.pool, job: opts.job, date: opts.date, runId: opts.run, format: opts.format, out: opts.out }),
      );
      const g = result.generation;
      ctx.log.info(
        `exported ${result.rows} users of job ${g.job}, ${g.date} (run ${g.runId}) as ${result.format} to ${result.out === '-' ? 'stdout' : result.out} in ${Math.round(result.ms)} ms`,
        { job: g.job, date: g.date, runId: g.runId, rows: result.rows, format: result.format, ms: Math.round(result.ms) },
      );
    });
}
