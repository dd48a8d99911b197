// The first-hour commands: `init` (a job from your own files), `sql` (a query, on the embedded default too)
// and `db start|stop|status|url` (the embedded server kept up between commands). Handlers only translate
// flags; the work is in init/init-job.ts, db/run-sql.ts and db/keep-embedded.ts, imported when they run.
import type { Command } from 'commander';
import { context, globalOptions, int, withDb, type GlobalFlags } from '../context.ts';
import { printDbStatus, printDryRun, printInit, printSql } from '../output/setup.ts';
import { BadInputError } from '../../errors.ts';

const csv = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

interface InitFlags extends GlobalFlags {
  name: string; features: string; model: string; items: string; columns?: string[]; userIdColumn?: string; input?: string;
  output?: string[]; itemIdColumn?: string; itemIndexColumn?: string; k?: number; force?: boolean; check?: boolean;
}

export function registerSetupCommands(program: Command): void {
  globalOptions(program.command('init'))
    .description('write jobs/<name>.json from your Parquet export, ONNX model and items file, saying what it found')
    .requiredOption('--name <job>', 'job name: the file jobs/<job>.json')
    .requiredOption('--features <glob>', "Parquet glob over the date-partitioned export, e.g. 'exports/dt=*/*.parquet' (quote it)")
    .requiredOption('--model <file.onnx>', 'the ONNX model')
    .requiredOption('--items <file>', 'CSV, Parquet or JSON: one row per item the model scores')
    .option('--columns <a,b,c>', 'feature columns in the model\'s input order (or one list column)', csv)
    .option('--user-id-column <name>', 'the user id column (default: user_id, else the one *_id column)')
    .option('--input <name>', 'the model input to feed (default: the only one)')
    .option('--output <name | values,indices>', 'scores over all items, or top-K values and indices (default: from the output types)', csv)
    .option('--item-id-column <name>', 'the item id column (default: item_id, id, or the one *_id column)')
    .option('--item-index-column <name>', 'the column numbering items 0..n-1 as the model does (default: idx/index, else row order)')
    .option('--k <n>', 'recommendations per user (default: the model\'s K, or 10)', int('--k'))
    .option('--force', 'replace an existing job file')
    .option('--check', 'then dry-run the job on the newest date (predict --dry-run)')
    .action(async (opts: InitFlags) => {
      const ctx = context(opts);
      if (opts.output && opts.output.length > 2) throw new BadInputError('--output takes one name (scores) or two (values,indices)');
      const { initJob } = await import('../../init/init-job.ts');
      const result = await initJob({
        name: opts.name, features: opts.features, model: opts.model, items: opts.items, root: ctx.config.root, jobsDir: ctx.config.jobsDir,
        columns: opts.columns, userIdColumn: opts.userIdColumn, input: opts.input, output: opts.output,
        itemIdColumn: opts.itemIdColumn, itemIndexColumn: opts.itemIndexColumn, k: opts.k, force: opts.force,
      });
      printInit(result, opts);
      if (opts.check) {
        const { dryRun } = await import('../../run/dry-run.ts');
        printDryRun(await withDb(ctx, (db) => dryRun({ job: result.job, date: result.latestDate, config: ctx.config, db, log: ctx.log })), opts);
      }
    });

  globalOptions(program.command('sql'))
    .description('run a query against the configured database (or the embedded one) and print the rows')
    .argument('<query>', 'SQL, e.g. "select * from batchcast.runs order by run_id desc limit 5"')
    .option('--csv', 'print CSV instead of a table')
    .action(async (query: string, opts: GlobalFlags & { csv?: boolean }) => {
      const ctx = context({ ...opts, quiet: opts.quiet ?? true }); // the rows are the output; say only what went wrong
      const { runSql } = await import('../../db/run-sql.ts');
      printSql(await withDb(ctx, (db) => runSql(db.pool, query)), opts);
    });

  const db = program.command('db').description('the embedded PostgreSQL: keep it running between commands');
  globalOptions(db.command('start'))
    .description('start the embedded PostgreSQL and leave it running after this command exits')
    .action(async (opts: GlobalFlags) => {
      const ctx = context(opts);
      if (ctx.config.databaseUrl) ctx.log.warn('DATABASE_URL is set, so the other commands use that server, not the embedded one started here');
      const { startDetached } = await import('../../db/keep-embedded.ts');
      printDbStatus('start', await startDetached(ctx.config), opts);
    });
  globalOptions(db.command('stop'))
    .description('stop the embedded PostgreSQL that `db start` started')
    .action(async (opts: GlobalFlags) => {
      const { stopDetached } = await import('../../db/keep-embedded.ts');
      const r = await stopDetached(context(opts).config);
      printDbStatus(r.stopped ? 'stop' : 'status', r.stopped ? { ...r.status, running: false } : r.status, opts);
    });
  globalOptions(db.command('status'))
    .description('whether the embedded PostgreSQL is running, on which port, with which data directory')
    .action(async (opts: GlobalFlags) => {
      const { embeddedStatus } = await import('../../db/keep-embedded.ts');
      printDbStatus('status', embeddedStatus(context(opts).config), opts);
    });
  globalOptions(db.command('url'))
    .description('print the running embedded server\'s connection string: psql "$(npx batchcast db url)"')
    .action(async (opts: GlobalFlags) => {
      const { embeddedStatus } = await import('../../db/keep-embedded.ts');
      const s = embeddedStatus(context(opts).config);
      if (!s.url) throw new BadInputError(`the embedded PostgreSQL is not running (data ${s.dataDir}); start it with \`npx batchcast db start\``);
      process.stdout.write(`${s.url}\n`);
    });
  globalOptions(db.command('hold', { hidden: true }))
    .description('(used by db start) run the embedded PostgreSQL until SIGTERM')
    .action(async (opts: GlobalFlags) => {
      const ctx = context(opts);
      const { holdEmbedded } = await import('../../db/keep-embedded.ts');
      await holdEmbedded(ctx.config, (m) => ctx.log.info(m));
    });
}
