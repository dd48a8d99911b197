// `batchcast generate`: the demo's inputs (items, features per date, model) written to disk, nothing run.

import { yesterday } from '../../dates.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int } from '../context.ts';

interface GenerateFlags extends GlobalFlags {
  users: number;
  items: number;
  days: number;
  endDate?: string;
  out: string;
  rowsPerFile: number;
}

export function generateCommand(program: Command): void {
  globalOptions(program.command('generate'))
    .description('write the demo inputs (items, features per date, model) without running anything')
    .option('--users <n>', 'users per date', int('--users'), 50_000)
    .option('--items <n>', 'routes in the catalogue', int('--items'), 5_000)
    .option('--days <n>', 'consecutive dates', int('--days'), 3)
    .option('--end-date <YYYY-MM-DD>', 'latest date (default: yesterday, UTC)')
    .option('--out <dir>', 'output directory', 'data/demo')
    .option('--rows-per-file <n>', 'split each date into Parquet files of at most this many rows', int('--rows-per-file'), 1_000_000)
    .action(async (opts: GenerateFlags) => {
      const ctx = await context(opts);
      const { generateDemo } = await import('../../demo/generate.ts');
      await generateDemo({
        outDir: opts.out,
        users: opts.users,
        items: opts.items,
        days: opts.days,
        endDate: opts.endDate ?? yesterday(),
        k: 10,
        rowsPerFile: opts.rowsPerFile,
        seed: 7,
        log: (m) => ctx.log.info(m),
      });
    });
}
