// Which dates a job has data for, from the file names alone (one DuckDB glob, no file opened): the
// scheduler's default start_date (the earliest of them), its preview, and its wait for late data.
import type { DuckDBConnection } from '@duckdb/node-api';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { sqlString } from './duckdb.ts';
import { findPartitionFiles } from './read-features.ts';

const TOKEN = /\{(date|yyyymmdd|yyyy|mm|dd|m|d)\}/g;
const TOKEN_PATTERN: Record<string, string> = {
  date: '(?<date>\\d{4}-\\d{2}-\\d{2})',
  yyyymmdd: '(?<yyyymmdd>\\d{8})',
  yyyy: '(?<yyyy>\\d{4})',
  mm: '(?<mm>\\d{2})',
  dd: '(?<dd>\\d{2})',
  m: '(?<m>\\d{1,2})',
  d: '(?<d>\\d{1,2})',
};

const pad = (s: string) => s.padStart(2, '0');
const isDate = (d: string) => {
  const t = Date.parse(`${d}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
};

/** A glob as a regular expression over whole paths, with the date tokens captured. */
function pathPattern(glob: string): RegExp {
  const seen = new Set<string>();
  let out = '';
  // split with a capturing group alternates text (even indices) and token names (odd indices)
  for (const [i, part] of glob.split(TOKEN).entries()) {
    if (i % 2 === 0) {
      out += part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*/g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replaceAll('\u0000', '.*');
    } else {
      out += seen.has(part) ? `\\k<${part}>` : TOKEN_PATTERN[part];
      seen.add(part);
    }
  }
  return new RegExp(`^${out}$`);
}

function dateOfMatch(g: Record<string, string>): string | undefined {
  const date = g.date ?? (g.yyyymmdd ? `${g.yyyymmdd.slice(0, 4)}-${g.yyyymmdd.slice(4, 6)}-${g.yyyymmdd.slice(6)}` : undefined);
  if (date) return date;
  const month = g.mm ?? g.m;
  const day = g.dd ?? g.d;
  return g.yyyy && month && day ? `${g.yyyy}-${pad(month)}-${pad(day)}` : undefined;
}

/** The dates with at least one file under the job's features.path, oldest first. */
export async function partitionDates(conn: DuckDBConnection, job: JobDefinition): Promise<string[]> {
  const f = job.features;
  const dated = TOKEN.test(f.path);
  TOKEN.lastIndex = 0;
  const glob = dated ? f.path.replace(TOKEN, '*') : f.path;
  const reader = await conn.runAndReadAll(`SELECT file FROM glob(${sqlString(glob)})`);
  const files = reader.getRows().map((r) => String(r[0]));
  const dates = new Set<string>();
  const pattern = dated ? pathPattern(f.path) : undefined;
  const hive = new RegExp(`/${f.partitionColumn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^/]+)/`);
  for (const file of files) {
    let date: string | undefined;
    if (pattern) {
      const m = pattern.exec(file);
      date = m?.groups && dateOfMatch(m.groups);
    } else {
      const v = hive.exec(file)?.[1];
      date = v && f.partitionFormat === 'YYYYMMDD' ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}` : v;
    }
    if (date && isDate(date)) dates.add(date);
  }
  return [...dates].sort();
}

/** Whether (job, date) has its files yet; other problems (a missing extension) are thrown. */
export async function hasPartition(conn: DuckDBConnection, job: JobDefinition, date: string): Promise<boolean> {
  try {
    await findPartitionFiles(conn, job, date);
    return true;
  } catch (err) {
    if (err instanceof BadInputError && err.message.includes('no features partition')) return false;
    throw err;
  }
}
