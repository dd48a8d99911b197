// `batchcast migrate`: the numbered migrations of sql/ that the database has not had yet.
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, withDb } from '../context.ts';

export function migrateCommand(program: Command): void {
  globalOptions(program.command('migrate'))
    .description('create or update the batchcast schema')
    .action(async (opts: GlobalFlags) => {
      const ctx = await context(opts);
      const { migrate } = await import('../../store/migrate.ts');
      const applied = await withDb(ctx, (db) => migrate(db.pool));
      ctx.log.info(applied.length ? `applied ${applied.join(', ')}` : 'schema is up to date');
    });
}
