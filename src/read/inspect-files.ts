// What `batchcast init` learns from a Parquet export and an items file it has never seen, through DuckDB:
// the hive partition column and its dates, each column's type, list widths, row counts.
import type { DuckDBConnection } from '@duckdb/node-api';
import { isCalendarDay } from '../dates.ts';
import { BadInputError } from '../errors.ts';
import { parquetSource, sqlIdent, sqlString } from './duckdb.ts';
import { readerFor } from './read-items.ts';

export interface Column {
  name: string;
  type: string;
}

export interface FeatureFiles {
  glob: string;
  files: number;
  partitionColumn: string;
  /** features.path with the date in it, for Spark's year=/month=/day= folders (partitionColumn unused then) */
  pathTemplate: string | undefined;
  /** how the folders write the date: dt=2026-11-20, or dt=20261120 */
  partitionFormat: 'YYYY-MM-DD' | 'YYYYMMDD';
  /** partition values that are dates, as YYYY-MM-DD, oldest first */
  dates: string[];
  /** the newest date: its first file was described and its rows counted */
  latest: string;
  rows: number;
  columns: Column[];
  /** list columns of floats: their width, when every row of the latest date has the same one */
  listWidths: Record<string, number | undefined>;
}

export interface ItemsFile {
  file: string;
  rows: number;
  columns: Column[];
  /** integer columns holding exactly 0..rows-1: the model's item index */
  indexCandidates: string[];
  /** columns whose values are all present and distinct */
  uniqueColumns: string[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** dt=20261120, as Hive tables often write it: only a real calendar day counts */
const COMPACT_DATE = /^(\d{4})(\d{2})(\d{2})$/;

/** A partition value as YYYY-MM-DD, or undefined when it is not a calendar day in either format. */
function isoDate(v: string): string | undefined {
  const m = COMPACT_DATE.exec(v);
  const iso = m ? `${m[1]}-${m[2]}-${m[3]}` : v;
  return DATE.test(iso) && isCalendarDay(iso) ? iso : undefined;
}
const INT_NAMES = 'TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT';
export const INT_TYPE = new RegExp(`^(${INT_NAMES})$`);
/** DuckDB types a run reads as a feature number: floats, decimals, integers, and BOOLEAN as 0 / 1 (DuckDB's cast). */
export const NUMBER_TYPE = new RegExp(`^(FLOAT|DOUBLE|REAL|DECIMAL.*|BOOLEAN|${INT_NAMES})$`);
export const FLOAT_LIST = /^(FLOAT|DOUBLE)\[(\d*)\]$/;

async function rows(conn: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await conn.runAndReadAll(sql)).getRows();
}

function describeError(what: string, err: unknown): BadInputError {
  return new BadInputError(`${what}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
}

/** Where a dataset keeps its dates: the files of each date (YYYY-MM-DD), and how a job finds them. */
interface Layout {
  byDate: Map<string, string[]>;
  /** the hive column of a one-folder-per-date layout ('dt' and unused with a template) */
  column: string;
  format: 'YYYY-MM-DD' | 'YYYYMMDD';
  /** features.path with the date in it (year=/month=/day= folders) */
  template: string | undefined;
}

/**
 * One `<column>=<date>` folder per date: the hive key the glob leaves open (`dt=*`), else the one whose
 * values in the paths are dates. Dates written 2026-11-20 or 20261120: the format most folders use (a stray
 * folder in the other is not a date of the job).
 */
function dateFolders(glob: string, files: string[]): Layout | undefined {
  const keys = [...glob.matchAll(/([A-Za-z_][\w]*)=\*/g)].map((m) => m[1]);
  const inPaths = new Set(files.flatMap((f) => [...f.matchAll(/\/([A-Za-z_][\w]*)=([^/]+)\//g)].map((m) => m[1])));
  const column =
    keys.find((k) => inPaths.has(k)) ?? [...inPaths].find((k) => files.some((f) => isoDate(partitionValue(f, k) ?? '') !== undefined));
  if (!column) return undefined;
  const values = new Map<string, string[]>();
  for (const f of files) {
    const v = partitionValue(f, column);
    if (v !== undefined) values.set(v, [...(values.get(v) ?? []), f]);
  }
  const dated = [...values.keys()].filter((v) => isoDate(v) !== undefined);
  const compact = dated.filter((v) => COMPACT_DATE.test(v));
  const format = compact.length > dated.length - compact.length ? 'YYYYMMDD' : 'YYYY-MM-DD';
  const byDate = new Map(dated.filter((v) => COMPACT_DATE.test(v) === (format === 'YYYYMMDD')).map((v) => [isoDate(v)!, values.get(v)!]));
  if (byDate.size === 0) {
    throw new BadInputError(
      `--features ${glob}: partition column "${column}" has values like "${[...values.keys()][0]}", not dates (YYYY-MM-DD or YYYYMMDD)`,
    );
  }
  return { byDate, column, format, template: undefined };
}

/**
 * Spark's partitionBy("year", "month", "day"), left open in the glob (year=*\/month=*\/day=*): the files of
 * each date, and the glob with the date put in. Months and days are {m}/{d} unless the folders pad them
 * (month=01): Spark writes integer partition values unpadded.
 */
function yearMonthDay(glob: string, files: string[]): Layout | undefined {
  if (!['year', 'month', 'day'].every((k) => glob.includes(`${k}=*`))) return undefined;
  const byDate = new Map<string, string[]>();
  const padded = { month: false, day: false };
  for (const f of files) {
    const [y, m, d] = ['year', 'month', 'day'].map((k) => partitionValue(f, k) ?? '');
    if (!/^\d{4}$/.test(y) || !/^\d{1,2}$/.test(m) || !/^\d{1,2}$/.test(d)) continue;
    const iso = isoDate(`${y}${m.padStart(2, '0')}${d.padStart(2, '0')}`);
    if (!iso) continue;
    if (m.startsWith('0')) padded.month = true;
    if (d.startsWith('0')) padded.day = true;
    byDate.set(iso, [...(byDate.get(iso) ?? []), f]);
  }
  if (byDate.size === 0) return undefined;
  const template = glob
    .replace('year=*', 'year={yyyy}')
    .replace('month=*', `month=${padded.month ? '{mm}' : '{m}'}`)
    .replace('day=*', `day=${padded.day ? '{dd}' : '{d}'}`);
  return { byDate, column: 'dt', format: 'YYYY-MM-DD', template };
}

function partitionValue(file: string, key: string): string | undefined {
  return new RegExp(`/${key}=([^/]+)/`).exec(file)?.[1];
}

export async function inspectFeatureFiles(conn: DuckDBConnection, glob: string): Promise<FeatureFiles> {
  const files = (await rows(conn, `SELECT file FROM glob(${sqlString(glob)}) ORDER BY file`)).map((r) => String(r[0]));
  if (files.length === 0)
    throw new BadInputError(`--features ${glob}: no file matches; give a glob such as 'exports/features/dt=*/*.parquet'`);
  const layout = yearMonthDay(glob, files) ?? dateFolders(glob, files);
  if (!layout) {
    throw new BadInputError(
      `--features ${glob}: the ${files.length} file(s) are not hive-partitioned by date (no <column>=YYYY-MM-DD or <column>=YYYYMMDD folder in ${files[0]}); batchcast reads one date's folder per run, e.g. features/dt=2026-11-20/part-0.parquet; Spark's year=/month=/day= folders: leave them open in the glob (features/year=*/month=*/day=*/*.parquet); other layouts: write the job by hand with the date in features.path`,
    );
  }
  const dates = [...layout.byDate.keys()].sort();
  const latest = dates[dates.length - 1];
  const latestFiles = layout.byDate.get(latest)!;
  const list = parquetSource(latestFiles);
  let columns: Column[];
  let count: number;
  try {
    columns = (await rows(conn, `DESCRIBE SELECT * FROM ${list}`)).map((r) => ({ name: String(r[0]), type: String(r[1]) }));
    count = Number((await rows(conn, `SELECT count(*) FROM ${list}`))[0][0]);
  } catch (err) {
    throw describeError(`--features ${glob}, date ${latest}, file ${latestFiles[0]}: not readable as Parquet`, err);
  }
  const listWidths: Record<string, number | undefined> = {};
  for (const c of columns) {
    const m = FLOAT_LIST.exec(c.type);
    if (!m) continue;
    if (m[2]) listWidths[c.name] = Number(m[2]);
    else {
      const [min, max] = (await rows(conn, `SELECT min(len(${sqlIdent(c.name)})), max(len(${sqlIdent(c.name)})) FROM ${list}`))[0].map(
        Number,
      );
      listWidths[c.name] = min === max ? min : undefined;
    }
  }
  return {
    glob,
    files: files.length,
    partitionColumn: layout.column,
    pathTemplate: layout.template,
    partitionFormat: layout.format,
    dates,
    latest,
    rows: count,
    columns,
    listWidths,
  };
}

export async function inspectItemsFile(conn: DuckDBConnection, file: string): Promise<ItemsFile> {
  const from = readerFor(file);
  let columns: Column[];
  let n: number;
  try {
    columns = (await rows(conn, `DESCRIBE SELECT * FROM ${from}`)).map((r) => ({ name: String(r[0]), type: String(r[1]) }));
    n = Number((await rows(conn, `SELECT count(*) FROM ${from}`))[0][0]);
  } catch (err) {
    throw describeError(`--items ${file}: not readable as CSV, Parquet or JSON`, err);
  }
  const indexCandidates: string[] = [];
  const uniqueColumns: string[] = [];
  for (const c of columns) {
    const id = sqlIdent(c.name);
    const [distinct, nonNull, min, max] = (
      await rows(
        conn,
        `SELECT count(DISTINCT ${id}), count(${id}), ${INT_TYPE.test(c.type) ? `min(${id}), max(${id})` : 'NULL, NULL'} FROM ${from}`,
      )
    )[0].map((v) => (v === null ? null : Number(v)));
    if (distinct === n && nonNull === n) uniqueColumns.push(c.name);
    if (INT_TYPE.test(c.type) && distinct === n && nonNull === n && min === 0 && max === n - 1) indexCandidates.push(c.name);
  }
  return { file, rows: n, columns, indexCandidates, uniqueColumns };
}
