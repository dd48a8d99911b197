// predict --shard I/N from the command line: one shard of a date (src/run/predict-shard.ts).
import { withDb, type Context, type GlobalFlags } from '../context.ts';
import { printPredictResult, progressLog, progressPrinter } from '../output/output.ts';
import { BadInputError, HeldError } from '../../errors.ts';
import { yesterday } from '../../dates.ts';
import { predictShard } from '../../run/predict-shard.ts';
import { parseShard } from '../../read/shard.ts';

export async function runShard(ctx: Context, opts: GlobalFlags & { job: string; date?: string; shadow?: boolean; model?: string; shard?: string }, signal: AbortSignal): Promise<void> {
  const shard = parseShard(opts.shard!);
  if (opts.shadow || opts.model) throw new BadInputError(`--shard ${opts.shard}: a sharded run always publishes; --shadow and --model run unsharded`);
  const r = await withDb(ctx, (db) => predictShard({
    job: opts.job, date: opts.date ?? yesterday(), config: ctx.config, db, log: ctx.log, signal, shard, generationKey: process.env.BATCHCAST_GENERATION_KEY,
    onProgress: opts.quiet ? undefined : (!opts.json && progressPrinter()) || progressLog(ctx.log),
  }));
  if (r.generation) printPredictResult(r.generation, opts);
  else if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
  else if (!opts.quiet) {
    const what = r.outcome === 'scored' ? `scored ${r.rows} users` : `had already succeeded (${r.rows} users); nothing redone`;
    process.stdout.write(`shard ${shard.index}/${shard.count} of run ${r.runId} (job ${r.job}, date ${r.date}) ${what}; ${r.succeeded}/${shard.count} shards done, the last one publishes\n`);
  }
  if (r.generation?.guard.line) throw new HeldError(r.generation.guard.line);
}
