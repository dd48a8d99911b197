// `batchcast compare --run A --run B`: two generations side by side, B as the reference.

import { BadInputError } from '../../errors.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

export function compareCommand(program: Command): void {
  globalOptions(program.command('compare'))
    .description('compare run A with run B (B as the reference): PSI, item popularity, per-user overlap and RBO, users ratio')
    .requiredOption('--run <id...>', 'two run ids: --run A --run B', (v: string, prev: number[] = []) => [...prev, int('--run')(v)])
    .action(async (opts: GlobalFlags & { run: number[] }) => {
      const { printComparison } = await import('../output/predict.ts');
      if (opts.run.length !== 2) throw new BadInputError(`compare needs exactly two runs: --run A --run B (got ${opts.run.length})`);
      const ctx = await context(opts);
      const { compareGenerations } = await import('../../guard/compare-generations.ts');
      const comparison = await withDb(ctx, (db) => compareGenerations(db, ctx.config, opts.run[0], opts.run[1]));
      printComparison(comparison, opts);
    });
}
