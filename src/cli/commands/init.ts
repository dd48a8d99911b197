// `batchcast init`: a job file from your own Parquet export, ONNX model and items file, saying what it found.
// The decisions are made in src/init/ (imported when the command runs).

import { BadInputError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { context, csv, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

interface InitFlags extends GlobalFlags {
  name: string;
  features: string;
  model: string;
  items: string;
  columns?: string[];
  userIdColumn?: string;
  input?: string;
  output?: string[];
  itemIdColumn?: string;
  itemIndexColumn?: string;
  k?: number;
  force?: boolean;
  check?: boolean;
  examples?: string;
}

export function initCommand(program: Command): void {
  globalOptions(program.command('init'))
    .description('write jobs/<name>.json from your Parquet export, ONNX model and items file, saying what it found')
    .requiredOption('--name <job>', 'job name: the file jobs/<job>.json')
    .requiredOption('--features <glob>', "Parquet glob over the date-partitioned export, e.g. 'exports/dt=*/*.parquet' (quote it)")
    .requiredOption('--model <file.onnx>', 'the ONNX model')
    .requiredOption('--items <file>', 'CSV, Parquet or JSON: one row per item the model scores')
    .option('--columns <a,b,c>', "feature columns in the model's input order (or one list column)", csv)
    .option('--user-id-column <name>', 'the user id column (default: user_id, else the one *_id column)')
    .option('--input <name>', 'the model input to feed (default: the only one)')
    .option('--output <name | values,indices>', 'scores over all items, or top-K values and indices (default: from the output types)', csv)
    .option('--item-id-column <name>', 'the item id column (default: item_id, id, or the one *_id column)')
    .option('--item-index-column <name>', 'the column numbering items 0..n-1 as the model does (default: idx/index, else row order)')
    .option('--k <n>', "recommendations per user (default: the model's K, or 10)", int('--k'))
    .option(
      '--examples <file.json>',
      'rows of inputs with the outputs the training code computed: checked now, and by every run (docs/jobs.md, "Examples")',
    )
    .option('--force', 'replace an existing job file')
    .option('--check', 'then dry-run the job on the newest date (predict --dry-run)')
    // An unquoted glob arrives as several paths: say so instead of commander's "too many arguments" and the help.
    .allowExcessArguments()
    .action(async (opts: InitFlags, cmd: Command) => {
      if (cmd.args.length) {
        const { excessArguments } = await import('../../init/generalise-glob.ts');
        throw new BadInputError(excessArguments(opts.features, cmd.args));
      }
      const { printDryRun, printInit } = await import('../output/setup.ts');
      const ctx = await context(opts);
      if (opts.output && opts.output.length > 2) throw new BadInputError('--output takes one name (scores) or two (values,indices)');
      const { initJob } = await import('../../init/init-job.ts');
      const result = await initJob({
        name: opts.name,
        features: opts.features,
        model: opts.model,
        items: opts.items,
        root: ctx.config.root,
        jobsDir: ctx.config.jobsDir,
        columns: opts.columns,
        userIdColumn: opts.userIdColumn,
        input: opts.input,
        output: opts.output,
        itemIdColumn: opts.itemIdColumn,
        itemIndexColumn: opts.itemIndexColumn,
        k: opts.k,
        force: opts.force,
        examples: opts.examples,
      });
      printInit(result, opts);
      if (opts.check) {
        const { dryRun } = await import('../../run/dry-run.ts');
        printDryRun(
          await withDb(ctx, (db) => dryRun({ job: result.job, date: result.latestDate, config: ctx.config, db, log: ctx.log })),
          opts,
        );
      }
    });
}
