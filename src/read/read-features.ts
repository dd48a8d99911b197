// Step 1 of a run: find the date's partition, check it, and stream it through DuckDB as row-major
// Float32Array chunks with their user ids. Memory is bounded by one chunk plus DuckDB's own buffers:
// the partition is never held whole.

import type { DuckDBConnection } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { UserIds } from '../store/copy-binary.ts';
import { parquetSource, sqlIdent, sqlString } from './duckdb.ts';
import { NUMBER_TYPE } from './inspect-files.ts';
import { type Shard, shardSql } from './shard.ts';

export interface FeatureChunk {
  rows: number;
  /** integer ids arrive as int64 (no per-row strings), others as strings */
  ids: UserIds;
  /** rows x features.size, row-major, in model-input order. NULL features arrive as NaN. */
  features: Float32Array;
}

export interface Partition {
  job: string;
  date: string;
  files: string[];
  rows: number;
  idKind: IdKind;
}

/** DuckDB failed while streaming the partition (a corrupt page, a bad value cast): the input's fault. */
export class FeatureReadError extends Error {}

/** 'int' when every file's id column fits int64 exactly, else 'string' (ids are text in PostgreSQL either way). */
export type IdKind = 'int' | 'string';

const ID_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|VARCHAR)$/;
const INT64_IDS = /^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER)$/;

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

const filesSql = (files: string[]) => parquetSource(files);

/** The folder name of a date's partition: `dt=2026-11-20`, or `dt=20261120` with partition_format YYYYMMDD. */
export function partitionFolder(job: JobDefinition, date: string): string {
  const value = job.features.partitionFormat === 'YYYYMMDD' ? date.replaceAll('-', '') : date;
  return `${job.features.partitionColumn}=${value}`;
}

/**
 * features.path with the date put in, when it holds placeholders: {date} (2026-11-20), {yyyymmdd}, {yyyy},
 * {mm} and {dd} (zero-padded), {m} and {d} (not: Spark writes integer partition values as month=1), for
 * layouts that are not one `<column>=<date>` folder, such as Spark's partitionBy("year", "month", "day"):
 * `features/year={yyyy}/month={m}/day={d}/*.parquet`. Else undefined.
 */
export function datedPath(path: string, date: string): string | undefined {
  const tokens = /\{(date|yyyymmdd|yyyy|mm|dd|m|d)\}/g;
  if (!path.match(tokens)) return undefined;
  const [yyyy, mm, dd] = date.split('-');
  const parts: Record<string, string> = { date, yyyymmdd: `${yyyy}${mm}${dd}`, yyyy, mm, dd, m: String(Number(mm)), d: String(Number(dd)) };
  return path.replace(tokens, (_, token: string) => parts[token]);
}

/**
 * The files of (job, date): those of the job's glob that sit under `<partition_column>=<date>/`, or those
 * of the date's own glob when features.path holds date placeholders (datedPath).
 */
export async function findPartitionFiles(conn: DuckDBConnection, job: JobDefinition, date: string): Promise<string[]> {
  const dated = datedPath(job.features.path, date);
  const reader = await conn
    .runAndReadAll(`SELECT file FROM glob(${sqlString(dated ?? job.features.path)}) ORDER BY file`)
    .catch((err: Error) => {
      const ext = /requires the extension (\w+) to be loaded/.exec(err.message)?.[1];
      if (!ext) throw err;
      throw new BadInputError(
        `job ${job.name}, date ${date}: features.path ${job.features.path} needs the DuckDB extension ${ext}, which is not loaded; ` +
          `add "${ext}" to config duckdb.extensions (BATCHCAST_DUCKDB_EXTENSIONS), installed ahead of time in duckdb.extensionDirectory (the image does this, see deploy/kubernetes/Dockerfile)`,
        { cause: err },
      );
    });
  const segment = `/${partitionFolder(job, date)}/`;
  const all = reader.getRows().map((r) => String(r[0]));
  const files = all.filter((f) => dated !== undefined || f.includes(segment));
  if (files.length === 0 && dated === undefined) {
    const mismatch = partitionMismatch(job, all);
    if (mismatch) throw new BadInputError(`job ${job.name}, date ${date}: ${mismatch}`);
  }
  if (files.length === 0) {
    throw new BadInputError(
      `job ${job.name}, date ${date}: no features partition: no file matches ${dated ?? `${job.features.path} under ${partitionFolder(job, date)}/`}; ` +
        'check that the upstream export for that date ran, or pick another date',
    );
  }
  return files;
}

/**
 * When the glob's files are there but none is under `<partition_column>=`, or their dates are written in
 * another format, the job disagrees with its own glob: the glob's partition name or format, said with the
 * field to change, rather than blaming the export. Undefined when the job and its files agree.
 */
function partitionMismatch(job: JobDefinition, files: string[]): string | undefined {
  const { partitionColumn: column, partitionFormat: format, path } = job.features;
  const hiveNames = (p: string) =>
    p
      .split('/')
      .map((seg) => /^([A-Za-z_][\w.-]*)=/.exec(seg)?.[1])
      .filter((n): n is string => n !== undefined);
  const names = [...new Set([...hiveNames(path), ...files.slice(0, 100).flatMap(hiveNames)])];
  if (!files.length) return undefined; // no file at all: the export's absence, said by the caller
  if (!names.includes(column)) {
    const theirs = names.length === 1 ? names[0] : undefined;
    return (
      `features.partition_column is "${column}" but features.path ${path} ${names.length ? `partitions by ${names.map((n) => `"${n}"`).join(', ')}` : 'has no <name>=<date> folder'}; ` +
      (theirs
        ? `set "partition_column": "${theirs}" in ${job.file}`
        : `make features.partition_column name the folder that holds the date, in ${job.file}`)
    );
  }
  const values = files.slice(0, 100).flatMap((f) => {
    const m = f.match(new RegExp(`/${column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^/]+)/`));
    return m ? [m[1]] : [];
  });
  const compact = values.length > 0 && values.every((v) => /^\d{8}$/.test(v));
  const dashed = values.length > 0 && values.every((v) => /^\d{4}-\d{2}-\d{2}$/.test(v));
  if ((format === 'YYYY-MM-DD' && compact) || (format === 'YYYYMMDD' && dashed)) {
    const other = compact ? 'YYYYMMDD' : 'YYYY-MM-DD';
    return `the files write the date as ${column}=${values[0]} but features.partition_format is ${format}; set "partition_format": "${other}" in ${job.file}`;
  }
  return undefined;
}

/**
 * Ids checked for duplicates in one aggregate at most: 25M fit DuckDB's default 128 MB (spilling), 100M did
 * not. A bigger partition is checked in passes over disjoint hash slices of the ids.
 */
export const ROWS_PER_DUPLICATE_PASS = 20_000_000;

/** Checks the partition's schema and ids before any work is done, and counts its rows. */
export async function inspectPartition(
  conn: DuckDBConnection,
  job: JobDefinition,
  date: string,
  files: string[],
  o: { rowsPerDuplicatePass?: number } = {},
): Promise<Partition> {
  const where = `job ${job.name}, date ${date}`;
  const fileList = files.length === 1 ? files[0] : `${files.length} files (${files[0]}, ...)`;
  const f = job.features;
  // File by file, so a truncated or corrupt file, or one whose schema drifted, is named exactly.
  let idKind: IdKind = 'int';
  for (const file of files) {
    let columns: Map<string, string>;
    try {
      const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
      columns = new Map(described.getRows().map((r) => [String(r[0]), String(r[1])]));
      await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(file)})`);
    } catch (err) {
      throw new BadInputError(`${where}, file ${file}: not readable as Parquet (${firstLine(err)}); re-export the partition`, {
        cause: err,
      });
    }
    const need = (name: string, ok: RegExp, what: string) => {
      const type = columns.get(name);
      if (type === undefined) {
        throw new BadInputError(
          `${where}, file ${file}: column "${name}" is missing (the file has ${[...columns.keys()].join(', ')}); fix the export or the job's features`,
        );
      }
      if (!ok.test(type))
        throw new BadInputError(
          `${where}, file ${file}: column "${name}" is ${type}, expected ${what}; fix the export or the job's features`,
        );
    };
    need(f.userIdColumn, ID_TYPES, 'an integer or VARCHAR user id');
    if (!INT64_IDS.test(columns.get(f.userIdColumn)!)) idKind = 'string';
    for (const c of f.columns) need(c, NUMBER_TYPE, 'a number (FLOAT, DOUBLE, an integer or BOOLEAN)');
    if (f.listColumn) {
      need(f.listColumn, /^(FLOAT|DOUBLE)\[\d*\]$/, `FLOAT[${f.size}] or a list of floats`);
      const m = /\[(\d+)\]$/.exec(columns.get(f.listColumn)!);
      if (m && Number(m[1]) !== f.size) {
        throw new BadInputError(
          `${where}, file ${file}: column "${f.listColumn}" is ${columns.get(f.listColumn)} but the job declares list_size ${f.size}`,
        );
      }
    }
    if (!f.allowExtraColumns) {
      const used = new Set([f.userIdColumn, f.partitionColumn, ...f.columns, ...(f.listColumn ? [f.listColumn] : [])]);
      const extra = [...columns.keys()].filter((c) => !used.has(c));
      if (extra.length) {
        throw new BadInputError(
          `${where}, file ${file}: column(s) ${extra.map((c) => `"${c}"`).join(', ')} are not in the job's features (schema drift?); add them to the job, or set features.allow_extra_columns to true`,
        );
      }
    }
  }

  const uid = sqlIdent(f.userIdColumn);
  const listCheck = f.listColumn ? `, count(*) FILTER (WHERE len(${sqlIdent(f.listColumn)}) <> ${f.size})` : ', 0';
  const read = async (sql: string) =>
    (
      await conn.runAndReadAll(sql).catch((err) => {
        throw new BadInputError(`${where}, file ${fileList}: cannot read the partition (${firstLine(err)}); re-export it`, { cause: err });
      })
    )
      .getRows()[0]
      .map(Number);
  const [rows, nullIds, badLists] = await read(`SELECT count(*), count(*) - count(${uid})${listCheck} FROM ${filesSql(files)}`);
  // GROUP BY ... HAVING rather than count(DISTINCT): at 10M ids it takes 0.7 s in bounded memory (it spills
  // under DuckDB's memory_limit) where count(DISTINCT) took 2.1 s and 500 MB of RSS. Past ~25M ids the
  // aggregate no longer fits 128 MB even spilling ("failed to pin block" at 100M), so big partitions are
  // checked in passes over disjoint hash slices of the ids: 100M ids in 4 passes, 19 s (bench/README.md).
  const passes = Math.max(1, Math.ceil(rows / (o.rowsPerDuplicatePass ?? ROWS_PER_DUPLICATE_PASS)));
  const slice = (i: number) => (passes > 1 ? ` AND hash(${uid}) % ${passes} = ${i}` : '');
  let duplicates = 0;
  let dupSlice = 0;
  for (let i = 0; i < passes && duplicates === 0; i++) {
    [duplicates] = await read(
      `SELECT count(*) FROM (SELECT ${uid} FROM ${filesSql(files)} WHERE ${uid} IS NOT NULL${slice(i)} GROUP BY 1 HAVING count(*) > 1)`,
    );
    dupSlice = i;
  }
  if (nullIds > 0) {
    const found = await conn.runAndReadAll(
      `SELECT filename, count(*) FROM ${parquetSource(files, { filename: true })} WHERE ${uid} IS NULL GROUP BY 1 ORDER BY 1 LIMIT 1`,
    );
    const [file, n] = found.getRows()[0];
    throw new BadInputError(
      `${where}, file ${file}: column "${f.userIdColumn}" is NULL in ${n} row(s) (${nullIds} in the partition); every row needs a user id`,
    );
  }
  if (duplicates > 0) {
    const dup = await conn.runAndReadAll(
      `SELECT ${uid}::VARCHAR, list(DISTINCT filename ORDER BY filename), count(*) FROM ${parquetSource(files, { filename: true })}
        WHERE true${slice(dupSlice)} GROUP BY 1 HAVING count(*) > 1 ORDER BY 3 DESC, 1 LIMIT 1`,
    );
    const [id, inFiles, n] = dup.getRows()[0];
    const fileNames = (inFiles as { items: unknown[] }).items.map(String);
    throw new BadInputError(
      `${where}, file ${fileNames.join(' and ')}: column "${f.userIdColumn}" has ${passes > 1 ? 'at least ' : ''}${duplicates} duplicated id(s), e.g. ${id} appears ${n} times; ` +
        'dedupe the export so each user has one row',
    );
  }
  if (badLists > 0) {
    throw new BadInputError(
      `${where}, file ${fileList}: column "${f.listColumn}" has ${badLists} row(s) whose length is not ${f.size}; fix the export or list_size`,
    );
  }
  if (rows < job.minRows) {
    throw new BadInputError(
      `${where}, file ${fileList}: the partition has ${rows} rows, fewer than the job's min_rows ${job.minRows}; the upstream export is probably incomplete`,
    );
  }
  return { job: job.name, date, files, rows, idKind };
}

/**
 * SELECT that yields (user_id BIGINT or VARCHAR, features FLOAT[size]); NULLs stay NULL, read as NaN below.
 * With a shard, only that shard's users (shard.ts): filtered in DuckDB's scan, 0.24 us per id.
 */
function scanSql(job: JobDefinition, files: string[], idKind: IdKind, shard?: Shard): string {
  const f = job.features;
  const vector = f.listColumn
    ? `${sqlIdent(f.listColumn)}::FLOAT[${f.size}]`
    : `[${f.columns.map((c) => `${sqlIdent(c)}::FLOAT`).join(', ')}]::FLOAT[${f.size}]`;
  const filter = shard ? ` WHERE ${shardSql.duckdb(sqlIdent(f.userIdColumn), shard.count)} = ${Math.trunc(shard.index)}` : '';
  return `SELECT ${sqlIdent(f.userIdColumn)}::${idKind === 'int' ? 'BIGINT' : 'VARCHAR'} AS user_id, ${vector} AS features FROM ${filesSql(files)}${filter}`;
}

/** Bit i of a DuckDB validity mask (null mask = all valid). */
function valid(mask: Uint8Array | null, i: number): boolean {
  return !mask || (mask[i >> 3] & (1 << (i & 7))) !== 0;
}

/**
 * Streams the partition in chunks of `chunkRows` (the last may be smaller). DuckDB hands over 2,048-row
 * data chunks; their ids and float data are copied straight out of DuckDB's vector memory (no per-value JS
 * objects), and NULL features, found from the validity masks, become NaN for the workers to reject.
 */
export async function* readFeatures(
  conn: DuckDBConnection,
  job: JobDefinition,
  files: string[],
  chunkRows: number,
  idKind: IdKind,
  shard?: Shard,
): AsyncGenerator<FeatureChunk> {
  const size = job.features.size;
  const result = await conn.stream(scanSql(job, files, idKind, shard));
  const newIds = (): UserIds => (idKind === 'int' ? new BigInt64Array(chunkRows) : []);
  let ids = newIds();
  let features = new Float32Array(chunkRows * size);
  let filled = 0;
  for (;;) {
    let chunk;
    try {
      chunk = await result.fetchChunk();
    } catch (err) {
      throw new FeatureReadError(firstLine(err), { cause: err });
    }
    if (!chunk || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    const idVector = duckdb.data_chunk_get_vector(chunk.chunk, 0);
    const intIds = idKind === 'int' ? duckdb.vector_get_data(idVector, n * 8) : undefined;
    const idItems = intIds ? new BigInt64Array(intIds.buffer, intIds.byteOffset, n) : undefined;
    const stringIds = idKind === 'string' ? chunk.getColumnVector(0) : undefined;
    const array = duckdb.data_chunk_get_vector(chunk.chunk, 1);
    const child = duckdb.array_vector_get_child(array);
    const bytes = duckdb.vector_get_data(child, n * size * 4);
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, n * size);
    const rowMask = duckdb.vector_get_validity(array, Math.ceil(n / 64) * 8);
    const valueMask = duckdb.vector_get_validity(child, Math.ceil((n * size) / 64) * 8);
    let offset = 0;
    while (offset < n) {
      const take = Math.min(n - offset, chunkRows - filled);
      const dst = filled * size;
      features.set(values.subarray(offset * size, (offset + take) * size), dst);
      if (rowMask || valueMask) {
        for (let r = 0; r < take; r++) {
          const rowValid = valid(rowMask, offset + r);
          for (let c = 0; c < size; c++) {
            if (!rowValid || !valid(valueMask, (offset + r) * size + c)) features[dst + r * size + c] = NaN;
          }
        }
      }
      if (idItems) (ids as BigInt64Array).set(idItems.subarray(offset, offset + take), filled);
      else for (let i = 0; i < take; i++) (ids as string[]).push(stringIds!.getItem(offset + i) as string);
      filled += take;
      offset += take;
      if (filled === chunkRows) {
        yield { rows: filled, ids, features };
        ids = newIds();
        features = new Float32Array(chunkRows * size);
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    yield {
      rows: filled,
      ids: ids instanceof BigInt64Array ? ids.subarray(0, filled) : ids,
      features: features.subarray(0, filled * size),
    };
  }
}

/** Which file holds a user id: only asked when something is wrong with that user's row. */
export async function fileOfUser(conn: DuckDBConnection, job: JobDefinition, files: string[], userId: string): Promise<string> {
  const r = await conn.runAndReadAll(
    `SELECT filename FROM ${parquetSource(files, { filename: true })} WHERE ${sqlIdent(job.features.userIdColumn)}::VARCHAR = ${sqlString(userId)} LIMIT 1`,
  );
  return r.getRows().length ? String(r.getRows()[0][0]) : files.join(', ');
}
