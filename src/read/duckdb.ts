// The one seam to DuckDB. Everything else asks for a connection here and never imports the driver.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BadInputError, InfraError } from '../errors.ts';

/** SQL string literal with quotes doubled; DuckDB table functions take file paths as literals. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Quoted identifier for a column name from a job file. */
export function sqlIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/**
 * read_parquet over a partition's files, by column name. union_by_name: a column's type may differ between
 * files (pandas writes an integer column as DOUBLE in a file where it holds a NaN, INT64 where it does not),
 * and every file is then read in the common type. Without it DuckDB casts later files to the first file's
 * type: 1.5 read as 2 when the first file had BIGINT. A column missing from a file is caught before, file
 * by file (inspectPartition), so union_by_name never fills one with NULLs.
 */
export function parquetSource(files: readonly string[], opts: { filename?: boolean } = {}): string {
  return `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false, union_by_name = true${opts.filename ? ', filename = true' : ''})`;
}

export interface DuckOptions {
  /** Worker threads DuckDB may use; the predict scan uses 1 so inference keeps the cores. */
  threads?: number;
  /** DuckDB's own cap; large aggregates spill to tempDirectory instead of growing the process. */
  memoryLimit?: string;
  tempDirectory?: string;
  /** Where installed extensions are looked up (DuckDB's extension_directory); unset = ~/.duckdb/extensions. */
  extensionDirectory?: string;
  /** Extension names or .duckdb_extension file paths to LOAD before fn runs (config duckdb.extensions). */
  extensions?: readonly string[];
  /** DuckDB's allow_unsigned_extensions: for extensions built in house, which DuckDB has not signed. */
  allowUnsignedExtensions?: boolean;
}

/** Opens an in-memory DuckDB, runs `fn`, and closes the connection and instance in `finally`. */
export async function withDuckDB<T>(opts: DuckOptions, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const options: Record<string, string> = {};
  if (opts.threads) options.threads = String(opts.threads);
  if (opts.memoryLimit) options.memory_limit = opts.memoryLimit;
  if (opts.tempDirectory) options.temp_directory = opts.tempDirectory;
  if (opts.extensionDirectory) options.extension_directory = opts.extensionDirectory;
  if (opts.allowUnsignedExtensions) options.allow_unsigned_extensions = 'true';
  // Never download at run time: machines without internet would hang or fail mid-run, and an extension
  // fetched today may differ from the one tested. Extensions are installed at image build time and LOADed.
  options.autoinstall_known_extensions = 'false';
  options.autoload_known_extensions = 'false';
  const instance = await DuckDBInstance.create(':memory:', options);
  const conn = await instance.connect();
  try {
    for (const ext of opts.extensions ?? []) await loadExtension(conn, ext, opts.extensionDirectory);
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** This DuckDB's version and platform (the extension directory's subfolders), and whether `ext` is built in. */
async function aboutExtension(conn: DuckDBConnection, ext: string): Promise<{ version: string; platform: string; builtIn: boolean }> {
  const about = await conn.runAndReadAll(
    `SELECT version(), (SELECT platform FROM pragma_platform()), (SELECT count(*) FROM duckdb_extensions() WHERE extension_name = ${sqlString(ext)} AND install_path = '(BUILT-IN)')`,
  );
  const [version, platform, builtIn] = about.getRows()[0].map(String);
  return { version, platform, builtIn: builtIn !== '0' };
}

/**
 * Downloads the named extensions for exactly this DuckDB version into `directory`, then LOADs every
 * configured one as a run will. Needs the network: for image builds (deploy/kubernetes/Dockerfile), never
 * called by a run. File entries are only checked: a run LOADs them from their path.
 */
export async function installExtensions(directory: string, extensions: readonly string[]): Promise<string[]> {
  const installed: string[] = [];
  await withDuckDB({ extensionDirectory: directory }, async (conn) => {
    for (const ext of extensions) {
      if (ext.endsWith('.duckdb_extension') || (await aboutExtension(conn, ext)).builtIn) continue;
      await conn.run(`INSTALL ${sqlIdent(ext)}`).catch((err: Error) => {
        throw new InfraError(
          `DuckDB extension "${ext}" could not be installed into ${directory}: ${err.message.split('\n')[0]}; this needs the network (run it where extensions.duckdb.org is reachable, e.g. at image build time)`,
          { cause: err },
        );
      });
      installed.push(ext);
    }
  });
  await withDuckDB({ extensionDirectory: directory, extensions }, async () => undefined);
  return installed;
}

/**
 * LOADs one extension by name (from the extension directory, or built in) or from a file path. A missing
 * one is bad input (exit 2), not an infrastructure fault: rerunning cannot help until someone installs it.
 */
async function loadExtension(conn: DuckDBConnection, ext: string, directory: string | undefined): Promise<void> {
  const isFile = ext.endsWith('.duckdb_extension');
  const dir = directory ?? path.join(os.homedir(), '.duckdb', 'extensions');
  const { version, platform, builtIn } = await aboutExtension(conn, ext);
  if (!isFile && builtIn) return; // built into this DuckDB (parquet, json, icu): already loaded
  const file = isFile ? ext : path.join(dir, version, platform, `${ext}.duckdb_extension`);
  const todo = isFile
    ? `put the ${version} ${platform} build of the extension there, or fix duckdb.extensions`
    : `install it for DuckDB ${version} where the network is reachable (at image build time: SET extension_directory = '${dir}'; INSTALL ${ext};, see deploy/kubernetes/Dockerfile), or remove it from duckdb.extensions`;
  if (!existsSync(file)) {
    const where = isFile
      ? `file ${file} does not exist`
      : `${file} does not exist (extension directory ${dir}${existsSync(dir) ? '' : ', which does not exist either'})`;
    throw new BadInputError(`DuckDB extension "${ext}" is configured (config duckdb.extensions) but ${where}; ${todo}`);
  }
  try {
    await conn.run(`LOAD ${isFile ? sqlString(ext) : sqlIdent(ext)}`);
  } catch (err) {
    throw new BadInputError(
      `DuckDB extension "${ext}"${isFile ? '' : ` (${file})`} could not be loaded: ${(err as Error).message.split('\n')[0]}; ${todo}`,
      { cause: err },
    );
  }
}
