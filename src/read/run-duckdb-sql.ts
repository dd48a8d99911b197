// `batchcast sql --duckdb "..."`: SQL over a job's own files, in DuckDB, with views named after the job's
// inputs: `features` (every date of features.path, its partition column included) and `items`. To look
// at an export, check a partition before a run, or rewrite one with COPY ... TO 'x.parquet' (FORMAT parquet).
// With several jobs the views are `<job>_features` and `<job>_items`.

import type { Config } from '../config/load-config.ts';
import { BadInputError } from '../errors.ts';
import { type JobDefinition, loadJob, projectJobs } from '../jobs/load-job.ts';
import type { SqlResult } from '../store/run-sql.ts';
import { sqlIdent, sqlString, withDuckDB } from './duckdb.ts';
import { readerFor } from './read-items.ts';

const TOKEN = /\{(date|yyyymmdd|yyyy|mm|dd|m|d)\}/g;

const WIDE_INTEGER = /^(BIGINT|UBIGINT|HUGEINT|UHUGEINT)$/;
const safeNumber = (v: unknown) => (typeof v === 'string' && Number.isSafeInteger(Number(v)) ? Number(v) : v);

export interface DuckdbSqlOptions {
  config: Pick<Config, 'jobsDir' | 'root' | 'duckdb'>;
  /** the jobs whose files to see; default: as `serve` and `schedule` (every job in jobs/) */
  jobs?: string[];
  query: string;
}

export interface DuckdbView {
  name: string;
  source: string;
}

/** The views a query sees: features and items per job. */
export function jobViews(jobs: JobDefinition[]): DuckdbView[] {
  const prefix = (job: JobDefinition) => (jobs.length > 1 ? `${job.name}_` : '');
  return jobs.flatMap((job) => [
    {
      name: `${prefix(job)}features`,
      // hive_partitioning: `dt` (the partition column) is a column of the view, so `WHERE dt = '2026-11-20'` works
      source: `read_parquet(${sqlString(job.features.path.replace(TOKEN, '*'))}, hive_partitioning = true, union_by_name = true)`,
    },
    { name: `${prefix(job)}items`, source: readerFor(job.items.path) },
  ]);
}

export async function runDuckdbSql(o: DuckdbSqlOptions): Promise<SqlResult> {
  if (!o.query.trim())
    throw new BadInputError('sql --duckdb: the query is empty; e.g. batchcast sql --duckdb "select count(*) from features"');
  const names = o.jobs?.length ? o.jobs : projectJobs(o.config.jobsDir);
  const views = jobViews(names.map((n) => loadJob(o.config.jobsDir, n, o.config.root)));
  const named = views.map((v) => v.name).join(', ') || 'none (no job)';
  return withDuckDB({ threads: 2, ...o.config.duckdb }, async (conn) => {
    // Views are lazy: one whose files are missing fails only when a query uses it.
    for (const v of views) await conn.run(`CREATE VIEW ${sqlIdent(v.name)} AS SELECT * FROM ${v.source}`);
    try {
      const statements = await conn.extractStatements(o.query);
      let result: SqlResult = { command: 'OK', columns: [], rows: [], rowCount: 0 };
      for (let i = 0; i < statements.count; i++) {
        const reader = await (await statements.prepare(i)).runAndReadAll();
        const columns = reader.columnNames();
        // getRowsJson writes 64-bit and wider integers as strings; those that fit a JS number become numbers
        const wide = reader.columnTypes().map((t) => WIDE_INTEGER.test(t.toString()));
        const rows = (reader.getRowsJson() as unknown[][]).map((row) => row.map((v, c) => (wide[c] ? safeNumber(v) : v)));
        result = { command: columns.length ? 'SELECT' : 'OK', columns, rows, rowCount: columns.length ? rows.length : reader.rowsChanged };
      }
      return result;
    } catch (err) {
      const first = (err as Error).message.split('\n')[0];
      throw new BadInputError(`sql --duckdb: ${first} (views: ${named})`, { cause: err });
    }
  });
}
