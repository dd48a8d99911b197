// `batchcast predict`: one date of a job, or one shard of it (--shard), or only its checks (--dry-run).

import { yesterday } from '../../dates.ts';
import { BadInputError, HeldError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { type Context, context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';
import { stopOnSignals } from '../signals.ts';

interface PredictFlags extends GlobalFlags {
  job: string;
  date?: string;
  dryRun?: boolean;
  shadow?: boolean;
  model?: string;
  pushgatewayUrl?: string;
  shard?: string;
}

export function predictCommand(program: Command): void {
  globalOptions(program.command('predict'))
    .description('run a job for one date and publish the result')
    .requiredOption('--job <name>', 'job name (a file in jobs/)')
    .option('--date <YYYY-MM-DD>', 'prediction date (default: yesterday, UTC)')
    .option('--workers <n>', 'inference worker threads', int('--workers'))
    .option('--threads <n>', 'ONNX Runtime intra-op threads per worker', int('--threads'))
    .option('--dry-run', 'check the job, partition, model and items and score one batch; publish and write nothing (exit 0 or 2)')
    .option('--shadow', 'write, profile and compare with the live generation; never publish (exit 6 when gates fail)')
    .option('--model <file.onnx>', "with --shadow: score with this candidate model instead of the job's")
    .option(
      '--pushgateway-url <url>',
      "push the job's metrics here after the run (default: $BATCHCAST_PUSHGATEWAY_URL, config metrics.pushgatewayUrl)",
    )
    .option('--shard <I/N>', 'score only shard I of N (auto/N: I from JOB_COMPLETION_INDEX); the last shard to finish publishes all N')
    .action(async (opts: PredictFlags) => {
      const ctx = await context(opts, opts.pushgatewayUrl ? { metrics: { pushgatewayUrl: opts.pushgatewayUrl } } : {});
      if (opts.dryRun) {
        const { dryRun } = await import('../../run/dry-run.ts');
        const { printDryRun } = await import('../output/setup.ts');
        return printDryRun(
          await withDb(ctx, (db) => dryRun({ job: opts.job, date: opts.date ?? yesterday(), config: ctx.config, db, log: ctx.log })),
          opts,
        );
      }
      // A signal aborts the run cleanly (marked failed, nothing published) instead of killing it.
      const { signal } = stopOnSignals({ log: ctx.log, stopping: 'the run; nothing will be published' });
      if (opts.shard !== undefined) return predictShard(ctx, opts, signal);
      const { predict } = await import('../../run/predict.ts');
      const { withMetricsPush } = await import('../../metrics/push-metrics.ts');
      const push = { url: ctx.config.metrics.pushgatewayUrl, job: opts.job, log: ctx.log };
      const onProgress = await progressFor(ctx, opts);
      const result = await withDb(ctx, (db) =>
        withMetricsPush({ ...push, db: db.pool }, () =>
          predict({
            job: opts.job,
            date: opts.date ?? yesterday(),
            config: ctx.config,
            db,
            log: ctx.log,
            signal,
            shadow: !!opts.shadow,
            modelPath: opts.model,
            onProgress,
          }),
        ),
      );
      (await import('../output/predict.ts')).printPredictResult(result, opts);
      if (result.guard.line) throw new HeldError(result.guard.line);
    });
}

/** A bar on a terminal, log lines elsewhere, nothing with --quiet. */
async function progressFor(ctx: Context, opts: GlobalFlags) {
  const { progressLog, progressPrinter } = await import('../output/progress.ts');
  return opts.quiet ? undefined : (!opts.json && progressPrinter()) || progressLog(ctx.log);
}

/** predict --shard I/N: one shard of a date (src/run/predict-shard.ts). */
async function predictShard(ctx: Context, opts: PredictFlags, signal: AbortSignal): Promise<void> {
  const { parseShard } = await import('../../read/shard.ts');
  const shard = parseShard(opts.shard!);
  if (opts.shadow || opts.model)
    throw new BadInputError(`--shard ${opts.shard}: a sharded run always publishes; --shadow and --model run unsharded`);
  const { predictShard: run } = await import('../../run/predict-shard.ts');
  const onProgress = await progressFor(ctx, opts);
  const r = await withDb(ctx, (db) =>
    run({
      job: opts.job,
      date: opts.date ?? yesterday(),
      config: ctx.config,
      db,
      log: ctx.log,
      signal,
      shard,
      generationKey: process.env.BATCHCAST_GENERATION_KEY,
      onProgress,
    }),
  );
  const { printPredictResult } = await import('../output/predict.ts');
  if (r.generation) printPredictResult(r.generation, opts);
  else if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
  else if (!opts.quiet) {
    const what = r.outcome === 'scored' ? `scored ${r.rows} users` : `had already succeeded (${r.rows} users); nothing redone`;
    process.stdout.write(
      `shard ${shard.index}/${shard.count} of run ${r.runId} (job ${r.job}, date ${r.date}) ${what}; ${r.succeeded}/${shard.count} shards done, the last one publishes\n`,
    );
  }
  if (r.generation?.guard.line) throw new HeldError(r.generation.guard.line);
}
