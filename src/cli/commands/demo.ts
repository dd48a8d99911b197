// `batchcast demo`: the walking-route demo from nothing to a published date, on the embedded PostgreSQL
// unless DATABASE_URL says otherwise.

import { PRECISIONS, type Precision } from '../../demo/precisions.ts';
import { type Command, Option } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

interface DemoFlags extends GlobalFlags {
  users: number;
  items: number;
  days: number;
  endDate?: string;
  regenerate?: boolean;
  model: Precision;
}

export function demoCommand(program: Command): void {
  globalOptions(program.command('demo'))
    .description('generate the walking-route demo data, run the demo job for the latest date and show the result')
    .option('--users <n>', 'users per date', int('--users'), 50_000)
    .option('--items <n>', 'routes in the catalogue', int('--items'), 5_000)
    .option('--days <n>', 'consecutive dates to generate', int('--days'), 3)
    .option('--end-date <YYYY-MM-DD>', 'latest date (default: yesterday, UTC)')
    .option('--regenerate', 'regenerate the data even if it exists')
    .addOption(
      new Option('--model <variant>', 'the model variant to run, same weights (bench/README.md, "Speed against agreement")')
        .choices(PRECISIONS)
        .default('fp32'),
    )
    .action(async (opts: DemoFlags) => {
      const { printDemoSummary } = await import('../output/demo.ts');
      const ctx = await context(opts);
      const { runDemo } = await import('../../demo/run-demo.ts');
      let embedded = false;
      const summary = await withDb(ctx, async (db) => {
        embedded = !!db.embedded;
        if (db.embedded)
          ctx.log.info(`using the embedded PostgreSQL on port ${db.embedded.port} (set DATABASE_URL to use your own server)`);
        return runDemo({
          config: ctx.config,
          db,
          log: ctx.log,
          users: opts.users,
          items: opts.items,
          days: opts.days,
          endDate: opts.endDate,
          regenerate: !!opts.regenerate,
          showUsers: 3,
          precision: opts.model,
        });
      });
      printDemoSummary(summary, opts, embedded);
    });
}
