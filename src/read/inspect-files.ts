// What `batchcast init` learns from a Parquet export and an items file it has never seen, through DuckDB:
// the hive partition column and its dates, each column's type, list widths, row counts.
import type { DuckDBConnection } from '@duckdb/node-api';
import { BadInputError } from '../errors.ts';
import { parquetSource, sqlIdent, sqlString } from './duckdb.ts';
import { readerFor } from './read-items.ts';

export interface Column { name: string; type: string }

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

/** A partition value as YYYY-MM-DD, or undefined when it is not a date in either format. */
function isoDate(v: string): string | undefined {
  if (DATE.test(v)) return v;
  const m = COMPACT_DATE.exec(v);
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}`;
  const d = new Date(`${iso}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(iso) ? iso : undefined;
}
export const FLOAT_TYPE = /^(FLOAT|DOUBLE|REAL|DECIMAL.*)$/;
export const INT_TYPE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$/;
export const FLOAT_LIST = /^(FLOAT|DOUBLE)\[(\d*)\]$/;

async function rows(conn: DuckDBConnection, sql: string): Promise<unknown[][]> {
  return (await conn.runAndReadAll(sql)).getRows();
}

function describeError(what: string, err: unknown): BadInputError {
  return new BadInputError(`${what}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
}

/** The hive key the glob leaves open (`dt=*`), else the one whose values in the paths are dates. */
function partitionOf(glob: string, files: string[]): { column: string; values: Map<string, string[]> } | undefined {
  const keys = [...glob.matchAll(/([A-Za-z_][\w]*)=\*/g)].map((m) => m[1]);
  const inPaths = new Set(files.flatMap((f) => [...f.matchAll(/\/([A-Za-z_][\w]*)=([^/]+)\//g)].map((m) => m[1])));
  const column = keys.find((k) => inPaths.has(k)) ?? [...inPaths].find((k) => files.some((f) => isoDate(valueOf(f, k) ?? '') !== undefined));
  if (!column) return undefined;
  const values = new Map<string, string[]>();
  for (const f of files) {
    const v = valueOf(f, column);
    if (v !== undefined) values.set(v, [...(values.get(v) ?? []), f]);
  }
  return { column, values };
}

/**
 * Spark's partitionBy("year", "month", "day"), left open in the glob (year=*\/month=*\/day=*): the files of
 * each date, and the glob with the date put in. Months and days are {m}/{d} unless the folders pad them
 * (month=01): Spark writes integer partition values unpadded.
 */
function yearMonthDay(glob: string, files: string[]): { template: string; byDate: Map<string, string[]> } | undefined {
  if (!['year', 'month', 'day'].every((k) => glob.includes(`${k}=*`))) return undefined;
  const byDate = new Map<string, string[]>();
  const padded = { month: false, day: false };
  for (const f of files) {
    const [y, m, d] = ['year', 'month', 'day'].map((k) => valueOf(f, k) ?? '');
    if (!/^\d{4}$/.test(y) || !/^\d{1,2}$/.test(m) || !/^\d{1,2}$/.test(d)) continue;
    const iso = isoDate(`${y}${m.padStart(2, '0')}${d.padStart(2, '0')}`);
    if (!iso) continue;
    if (m.startsWith('0')) padded.month = true;
    if (d.startsWith('0')) padded.day = true;
    byDate.set(iso, [...(byDate.get(iso) ?? []), f]);
  }
  if (byDate.size === 0) return undefined;
  const template = glob.replace('year=*', 'year={yyyy}').replace('month=*', `month=${padded.month ? '{mm}' : '{m}'}`).replace('day=*', `day=${padded.day ? '{dd}' : '{d}'}`);
  return { template, byDate };
}

function valueOf(file: string, key: string): string | undefined {
  return new RegExp(`/${key}=([^/]+)/`).exec(file)?.[1];
}

export async function inspectFeatureFiles(conn: DuckDBConnection, glob: string): Promise<FeatureFiles> {
  const files = (await rows(conn, `SELECT file FROM glob(${sqlString(glob)}) ORDER BY file`)).map((r) => String(r[0]));
  if (files.length === 0) throw new BadInputError(`--features ${glob}: no file matches; give a glob such as 'exports/features/dt=*/*.parquet'`);
  const ymd = yearMonthDay(glob, files);
  const partition = ymd ? { column: 'dt', values: new Map<string, string[]>() } : partitionOf(glob, files);
  if (!partition) {
    throw new BadInputError(`--features ${glob}: the ${files.length} file(s) are not hive-partitioned by date (no <column>=YYYY-MM-DD or <column>=YYYYMMDD folder in ${files[0]}); batchcast reads one date's folder per run, e.g. features/dt=2026-11-20/part-0.parquet; Spark's year=/month=/day= folders: leave them open in the glob (features/year=*/month=*/day=*/*.parquet); other layouts: write the job by hand with the date in features.path`);
  }
  const values = [...partition.values.keys()];
  // One format per dataset: the one most folders use (a stray folder in the other is not a date of the job).
  const iso = values.filter((v) => DATE.test(v));
  const compact = values.filter((v) => COMPACT_DATE.test(v) && isoDate(v) !== undefined);
  const partitionFormat = compact.length > iso.length ? 'YYYYMMDD' : 'YYYY-MM-DD';
  const folderOf = new Map((partitionFormat === 'YYYYMMDD' ? compact : iso).map((v) => [isoDate(v)!, v]));
  const dates = ymd ? [...ymd.byDate.keys()].sort() : [...folderOf.keys()].sort();
  if (dates.length === 0) {
    throw new BadInputError(`--features ${glob}: partition column "${partition.column}" has values like "${values[0]}", not dates (YYYY-MM-DD or YYYYMMDD)`);
  }
  const latest = dates[dates.length - 1];
  const latestFiles = ymd ? ymd.byDate.get(latest)! : partition.values.get(folderOf.get(latest)!)!;
  const list = parquetSource(latestFiles);
  let columns: Column[];
  let count: number;
  try {
    columns = (await rows(conn, `DESCRIBE SELECT * FROM ${list}`))
      .map((r) => ({ name: String(r[0]), type: String(r[1]) }));
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
      const [min, max] = (await rows(conn, `SELECT min(len(${sqlIdent(c.name)})), max(len(${sqlIdent(c.name)})) FROM ${list}`))[0].map(Number);
      listWidths[c.name] = min === max ? min : undefined;
    }
  }
  return { glob, files: files.length, partitionColumn: partition.column, pathTemplate: ymd?.template, partitionFormat, dates, latest, rows: count, columns, listWidths };
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
    const [distinct, nonNull, min, max] = (await rows(conn,
      `SELECT count(DISTINCT ${id}), count(${id}), ${INT_TYPE.test(c.type) ? `min(${id}), max(${id})` : 'NULL, NULL'} FROM ${from}`))[0].map((v) => (v === null ? null : Number(v)));
    if (distinct === n && nonNull === n) uniqueColumns.push(c.name);
    if (INT_TYPE.test(c.type) && distinct === n && nonNull === n && min === 0 && max === n - 1) indexCandidates.push(c.name);
  }
  return { file, rows: n, columns, indexCandidates, uniqueColumns };
}
