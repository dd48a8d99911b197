// The one seam to DuckDB. Everything else asks for a connection here and never imports the driver.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** SQL string literal with quotes doubled; DuckDB table functions take file paths as literals. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Quoted identifier for a column name from a job file. */
export function sqlIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

export interface DuckOptions {
  /** Worker threads DuckDB may use; the predict scan uses 1 so inference keeps the cores. */
  threads?: number;
  /** DuckDB's own cap; large aggregates spill to tempDirectory instead of growing the process. */
  memoryLimit?: string;
  tempDirectory?: string;
}

/** Opens an in-memory DuckDB, runs `fn`, and closes the connection and instance in `finally`. */
export async function withDuckDB<T>(opts: DuckOptions, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const options: Record<string, string> = {};
  if (opts.threads) options.threads = String(opts.threads);
  if (opts.memoryLimit) options.memory_limit = opts.memoryLimit;
  if (opts.tempDirectory) options.temp_directory = opts.tempDirectory;
  const instance = await DuckDBInstance.create(':memory:', options);
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
