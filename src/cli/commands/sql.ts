// `batchcast sql "..."`: one query against the configured database, or the embedded one, printed as a table,
// CSV or JSON; with --duckdb, against the job's own files in DuckDB instead.

import { EXAMPLE_QUERY } from '../../store/tables.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, withDb } from '../context.ts';

export function sqlCommand(program: Command): void {
  globalOptions(program.command('sql'))
    .description(
      "run a query against the configured database (or the embedded one), or with --duckdb over the job's files, and print the rows",
    )
    .argument('<query>', `SQL, e.g. "${EXAMPLE_QUERY}"`)
    .option('--csv', 'print CSV instead of a table')
    .option('--duckdb', "run it in DuckDB over the job's files: views features (every date, with its partition column) and items")
    .option('--job <name...>', 'with --duckdb: the jobs whose files to see (default: every job; several: <job>_features, <job>_items)')
    .action(async (query: string, opts: GlobalFlags & { csv?: boolean; duckdb?: boolean; job?: string[] }) => {
      const { printSql } = await import('../output/setup.ts');
      const ctx = await context({ ...opts, quiet: opts.quiet ?? true }); // the rows are the output; say only what went wrong
      if (opts.duckdb) {
        const { runDuckdbSql } = await import('../../read/run-duckdb-sql.ts');
        printSql(await runDuckdbSql({ config: ctx.config, jobs: opts.job, query }), opts);
        return;
      }
      const { runSql } = await import('../../store/run-sql.ts');
      printSql(await withDb(ctx, (db) => runSql(db.pool, query)), opts);
    });
}
