// `batchcast sql "..."`: one query against the configured database (or the embedded one), its rows
// returned as text cells for a table, CSV or JSON.
import type pg from 'pg';
import { BadInputError } from '../errors.ts';
import { EXAMPLE_QUERY } from './tables.ts';

export interface SqlResult {
  command: string;
  columns: string[];
  /** values as node-postgres parsed them (numbers, strings, Dates, arrays, objects, null) */
  rows: unknown[][];
  rowCount: number;
}

/** Errors in the query itself (syntax, unknown table, bad value: classes 22 and 42) are bad input, exit 2. */
const QUERY_ERROR = /^(22|42)/;

export async function runSql(pool: pg.Pool, text: string): Promise<SqlResult> {
  if (!text.trim()) throw new BadInputError(`sql: the query is empty; e.g. batchcast sql "${EXAMPLE_QUERY}"`);
  let result: pg.QueryResult | pg.QueryResult[];
  try {
    result = await pool.query({ text, rowMode: 'array' });
  } catch (err) {
    const e = err as Error & { code?: string; position?: string; hint?: string };
    if (e.code && QUERY_ERROR.test(e.code)) {
      const at = e.position ? ` at character ${e.position}` : '';
      throw new BadInputError(`sql: ${e.message}${at}${e.hint ? ` (${e.hint})` : ''}`, { cause: err });
    }
    throw err;
  }
  // Several statements give one result each; the last one is what the person wants to see.
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return {
    command: last.command,
    columns: last.fields.map((f: pg.FieldDef) => f.name),
    rows: last.rows as unknown[][],
    rowCount: last.rowCount ?? last.rows.length,
  };
}

/** One value as a cell: dates as ISO text, arrays and objects as JSON, NULL as the empty string. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function toCsv(r: SqlResult): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return [r.columns, ...r.rows.map((row) => row.map(cellText))].map((cells) => cells.map(quote).join(',')).join('\n') + '\n';
}

export function toJsonRows(r: SqlResult): Record<string, unknown>[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
}
