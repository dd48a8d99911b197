// `batchcast publish --run R`: serve run R for its (job, date): an instant rollback, or a held or shadow
// run published after review.
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

export function publishCommand(program: Command): void {
  globalOptions(program.command('publish'))
    .description('serve run R for its (job, date): instant rollback to an older generation, or publish a held or shadow run after review')
    .requiredOption('--run <id>', 'run id (see batchcast runs)', int('--run'))
    .option(
      '--reason <text>',
      'why a held or shadow run is published anyway (required for a held run; kept in the publish log with the run)',
    )
    .action(async (opts: GlobalFlags & { run: number; reason?: string }) => {
      const { printPublish } = await import('../output/ledger.ts');
      const ctx = await context(opts);
      const { publishGeneration } = await import('../../run/publish-generation.ts');
      const outcome = await withDb(ctx, (db) => publishGeneration(db, ctx.config, opts.run, opts.reason));
      printPublish(outcome, opts);
    });
}
