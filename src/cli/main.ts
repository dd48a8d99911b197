// The CLI only translates: flags become an options object for the same functions the tests call.
// Handlers import their modules when they run: DuckDB, pg and ONNX Runtime take ~110 ms to load, and
// `batchcast --help` should not pay for them.
import { Command, CommanderError, Option } from 'commander';
import { context, globalOptions, int, withDb, type GlobalFlags } from './context.ts';
import { BadInputError, ExitCode, HeldError, describeError, exitCodeOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import { yesterday } from '../dates.ts';
import { PRECISIONS, type Precision } from '../demo/build-model.ts';
import { printComparison, printDemoSummary, printPredictResult, progressLog, progressPrinter } from './output/output.ts';
import { registerScheduleCommands } from './commands/schedule.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerSetupCommands } from './commands/setup.ts';
import { printDryRun } from './output/setup.ts';
import { registerExportCommand } from './commands/export.ts';
import { registerReportCommand } from './commands/report.ts';

/** SIGINT/SIGTERM abort the current run cleanly (marked failed, nothing published) instead of killing it. */
function abortOnSignals(log: Logger): AbortController {
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log.warn(`${sig}: stopping the run; nothing will be published`);
      ac.abort(new Error(`interrupted by ${sig}`));
    });
  }
  return ac;
}

export function buildProgram(): Command {
  const program = new Command('batchcast')
    .description('Batch predictions: Parquet features -> ONNX model -> top-K per user, published atomically in PostgreSQL')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();

  globalOptions(program.command('predict'))
    .description('run a job for one date and publish the result')
    .requiredOption('--job <name>', 'job name (a file in jobs/)')
    .option('--date <YYYY-MM-DD>', 'prediction date (default: yesterday, UTC)')
    .option('--workers <n>', 'inference worker threads', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .option('--dry-run', 'check the job, partition, model and items and score one batch; publish and write nothing (exit 0 or 2)')
    .option('--shadow', 'write, profile and compare with the live generation; never publish (exit 6 when gates fail)')
    .option('--model <file.onnx>', 'with --shadow: score with this candidate model instead of the job\'s')
    .option('--pushgateway-url <url>', 'push the job\'s metrics here after the run (default: $BATCHCAST_PUSHGATEWAY_URL, config metrics.pushgatewayUrl)')
    .option('--shard <I/N>', 'score only shard I of N (auto/N: I from JOB_COMPLETION_INDEX); the last shard to finish publishes all N')
    .action(async (opts: GlobalFlags & { job: string; date?: string; dryRun?: boolean; shadow?: boolean; model?: string; pushgatewayUrl?: string; shard?: string }) => {
      const ctx = context(opts, opts.pushgatewayUrl ? { metrics: { pushgatewayUrl: opts.pushgatewayUrl } } : {});
      if (opts.dryRun) {
        const { dryRun } = await import('../run/dry-run.ts');
        return printDryRun(await withDb(ctx, (db) => dryRun({ job: opts.job, date: opts.date ?? yesterday(), config: ctx.config, db, log: ctx.log })), opts);
      }
      const ac = abortOnSignals(ctx.log);
      if (opts.shard !== undefined) return (await import('./commands/predict-shard.ts')).runShard(ctx, opts, ac.signal);
      const { predict } = await import('../run/predict.ts');
      const { withMetricsPush } = await import('../metrics/push-metrics.ts');
      const push = { url: ctx.config.metrics.pushgatewayUrl, job: opts.job, log: ctx.log };
      const result = await withDb(ctx, (db) => withMetricsPush({ ...push, db: db.pool }, () => predict({
        job: opts.job, date: opts.date ?? yesterday(), config: ctx.config, db, log: ctx.log, signal: ac.signal, shadow: !!opts.shadow, modelPath: opts.model,
        onProgress: opts.quiet ? undefined : (!opts.json && progressPrinter()) || progressLog(ctx.log),
      })));
      printPredictResult(result, opts);
      if (result.guard.line) throw new HeldError(result.guard.line);
    });

  globalOptions(program.command('compare'))
    .description('compare run A with run B (B as the reference): PSI, item popularity, per-user overlap and RBO, users ratio')
    .requiredOption('--run <id...>', 'two run ids: --run A --run B', (v: string, prev: number[] = []) => [...prev, int('--run')(v)])
    .action(async (opts: GlobalFlags & { run: number[] }) => {
      if (opts.run.length !== 2) throw new BadInputError(`compare needs exactly two runs: --run A --run B (got ${opts.run.length})`);
      const ctx = context(opts);
      const { compareGenerations } = await import('../guard/compare-generations.ts');
      const comparison = await withDb(ctx, (db) => compareGenerations(db, ctx.config, opts.run[0], opts.run[1]));
      printComparison(comparison, opts);
    });

  globalOptions(program.command('demo'))
    .description('generate the walking-route demo data, run the demo job for the latest date and show the result')
    .option('--users <n>', 'users per date', int('--users'), 50_000)
    .option('--items <n>', 'routes in the catalogue', int('--items'), 5_000)
    .option('--days <n>', 'consecutive dates to generate', int('--days'), 3)
    .option('--end-date <YYYY-MM-DD>', 'latest date (default: yesterday, UTC)')
    .option('--regenerate', 'regenerate the data even if it exists')
    .addOption(new Option('--model <variant>', 'the model variant to run, same weights (bench/README.md, "Speed against agreement")').choices(PRECISIONS).default('fp32'))
    .action(async (opts: GlobalFlags & { users: number; items: number; days: number; endDate?: string; regenerate?: boolean; model: Precision }) => {
      const ctx = context(opts);
      const { runDemo } = await import('../demo/run-demo.ts');
      let embedded = false;
      const summary = await withDb(ctx, async (db) => {
        embedded = !!db.embedded;
        if (db.embedded) ctx.log.info(`using the embedded PostgreSQL on port ${db.embedded.port} (set DATABASE_URL to use your own server)`);
        return runDemo({ config: ctx.config, db, log: ctx.log, users: opts.users, items: opts.items, days: opts.days, endDate: opts.endDate, regenerate: !!opts.regenerate, showUsers: 3, precision: opts.model });
      });
      printDemoSummary(summary, opts, embedded);
    });

  globalOptions(program.command('generate'))
    .description('write the demo inputs (items, features per date, model) without running anything')
    .option('--users <n>', 'users per date', int('--users'), 50_000)
    .option('--items <n>', 'routes in the catalogue', int('--items'), 5_000)
    .option('--days <n>', 'consecutive dates', int('--days'), 3)
    .option('--end-date <YYYY-MM-DD>', 'latest date (default: yesterday, UTC)')
    .option('--out <dir>', 'output directory', 'data/demo')
    .option('--rows-per-file <n>', 'split each date into Parquet files of at most this many rows', int('--rows-per-file'), 1_000_000)
    .action(async (opts: GlobalFlags & { users: number; items: number; days: number; endDate?: string; out: string; rowsPerFile: number }) => {
      const ctx = context(opts);
      const { generateDemo } = await import('../demo/generate.ts');
      await generateDemo({ outDir: opts.out, users: opts.users, items: opts.items, days: opts.days, endDate: opts.endDate ?? yesterday(), k: 10, rowsPerFile: opts.rowsPerFile, seed: 7, log: (m) => ctx.log.info(m) });
    });

  globalOptions(program.command('migrate'))
    .description('create or update the batchcast schema')
    .action(async (opts: GlobalFlags) => {
      const ctx = context(opts);
      const { migrate } = await import('../store/migrate.ts');
      const applied = await withDb(ctx, (db) => migrate(db.pool));
      ctx.log.info(applied.length ? `applied ${applied.join(', ')}` : 'schema is up to date');
    });

  registerSetupCommands(program);
  registerServeCommand(program);
  registerExportCommand(program);
  registerScheduleCommands(program);
  registerReportCommand(program);

  globalOptions(program.command('install-extensions'))
    .description('download config duckdb.extensions into duckdb.extensionDirectory for this DuckDB version (image build time: needs the network)')
    .action(async (opts: GlobalFlags) => {
      const { config, log } = context(opts);
      if (!config.duckdb.extensionDirectory) throw new BadInputError('install-extensions needs config duckdb.extensionDirectory (BATCHCAST_DUCKDB_EXTENSION_DIRECTORY), the directory runs will load from');
      const { installExtensions } = await import('../read/duckdb.ts');
      const installed = await installExtensions(config.duckdb.extensionDirectory, config.duckdb.extensions);
      log.info(`DuckDB extensions installed into ${config.duckdb.extensionDirectory}: ${installed.join(', ') || 'none needed'}; all of ${config.duckdb.extensions.join(', ') || '(none configured)'} load`);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; a usage error is bad input
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    process.stderr.write(`batchcast: ${describeError(err)}\n`);
    return exitCodeOf(err);
  }
}

