// `batchcast sql "..."`: one query against the configured database, or the embedded one, printed as a table,
// CSV or JSON.

import { EXAMPLE_QUERY } from '../../store/tables.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, withDb } from '../context.ts';

export function sqlCommand(program: Command): void {
  globalOptions(program.command('sql'))
    .description('run a query against the configured database (or the embedded one) and print the rows')
    .argument('<query>', `SQL, e.g. "${EXAMPLE_QUERY}"`)
    .option('--csv', 'print CSV instead of a table')
    .action(async (query: string, opts: GlobalFlags & { csv?: boolean }) => {
      const { printSql } = await import('../output/setup.ts');
      const ctx = await context({ ...opts, quiet: opts.quiet ?? true }); // the rows are the output; say only what went wrong
      const { runSql } = await import('../../store/run-sql.ts');
      printSql(await withDb(ctx, (db) => runSql(db.pool, query)), opts);
    });
}
