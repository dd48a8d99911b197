// The items file maps the model's item index (0..n-1) to an item id. CSV, Parquet or JSON, read by DuckDB.
import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { sqlIdent, sqlString } from './duckdb.ts';

/**
 * The table function for an items file. `textColumns` of a CSV are read as written: DuckDB's type sniffing
 * would make an id such as 98765432109876543210 a DOUBLE (9.876543210987654e+19) and 1e5 the number 100000.
 */
export function readerFor(file: string, textColumns: readonly string[] = []): string {
  if (/\.parquet$/i.test(file)) return `read_parquet(${sqlString(file)})`;
  if (/\.jsonl?$/i.test(file) || /\.ndjson$/i.test(file)) return `read_json_auto(${sqlString(file)})`;
  const types = textColumns.length ? `, types = {${textColumns.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ')}}` : '';
  return `read_csv(${sqlString(file)}, header = true, auto_detect = true${types})`;
}

/** Item ids by model index. Without an index column, the file's row order is the index. */
export async function readItems(conn: DuckDBConnection, job: JobDefinition): Promise<string[]> {
  const { path: file, idColumn, indexColumn } = job.items;
  const where = `job ${job.name}, items file ${file}`;
  if (!existsSync(file)) throw new BadInputError(`${where}: file not found; generate it or fix items.path in the job`);
  let rows: unknown[][];
  try {
    const index = indexColumn ? `${sqlIdent(indexColumn)}::BIGINT` : 'row_number() OVER () - 1';
    const r = await conn.runAndReadAll(
      `SELECT ${index} AS idx, ${sqlIdent(idColumn)}::VARCHAR AS id FROM ${readerFor(file, [idColumn])} ORDER BY idx`,
    );
    rows = r.getRows();
  } catch (err) {
    const missing = await missingColumns(conn, file, [
      ['items.id_column', idColumn],
      ...(indexColumn ? [['items.index_column', indexColumn] as const] : []),
    ]);
    if (missing) throw new BadInputError(`${where}: ${missing}`);
    throw new BadInputError(
      `${where}: cannot read columns "${idColumn}"${indexColumn ? ` and "${indexColumn}"` : ''}: ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  const ids: string[] = [];
  const seen = new Set<string>();
  rows.forEach(([idx, id], i) => {
    if (Number(idx) !== i)
      throw new BadInputError(`${where}: column "${indexColumn}" must number items 0..n-1 without gaps; row ${i} has ${idx}`);
    if (id === null || id === '') throw new BadInputError(`${where}: item ${i} has an empty "${idColumn}"`);
    if (seen.has(id as string)) throw new BadInputError(`${where}: item id ${id} appears twice in "${idColumn}"`);
    seen.add(id as string);
    ids.push(id as string);
  });
  if (ids.length === 0) throw new BadInputError(`${where}: no items`);
  if (job.items.attributes.length) await readItemAttributes(conn, job, 0);
  return ids;
}

/**
 * When a named column is not in the items file: which, and the columns the file has, so the fix is one
 * look away (instead of DuckDB's binder error and our SQL). Undefined when every column is there.
 */
async function missingColumns(conn: DuckDBConnection, file: string, wanted: (readonly [string, string])[]): Promise<string | undefined> {
  let have: string[];
  try {
    have = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${readerFor(file)}`)).getRows().map((r) => String(r[0]));
  } catch {
    return undefined; // the file itself cannot be read: the caller's message says why
  }
  const gone = wanted.filter(([, c]) => !have.includes(c));
  if (!gone.length) return undefined;
  return (
    `${gone.map(([field, c]) => `${field} "${c}"`).join(' and ')} ${gone.length > 1 ? 'are' : 'is'} not a column of the file ` +
    `(its columns: ${have.map((c) => `"${c}"`).join(', ')}); fix the job`
  );
}

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

// DuckDB's JSON form keeps 64-bit integers and decimals as strings (no precision lost); attributes are for
// display (a route's km, a rating), so they become JSON numbers.
const NUMERIC_AS_STRING = /^(BIGINT|UBIGINT|HUGEINT|UHUGEINT|DECIMAL)/;

/**
 * The job's items.attributes columns per item id, as JSON values. Also run by readItems (limit 0), so a
 * misspelt attribute fails the run's check stage, naming the column, before the API ever asks for it.
 */
export async function readItemAttributes(
  conn: DuckDBConnection,
  job: JobDefinition,
  limit?: number,
): Promise<Map<string, Record<string, AttributeValue>>> {
  const { path: file, idColumn, attributes } = job.items;
  const where = `job ${job.name}, items file ${file}`;
  if (!existsSync(file)) throw new BadInputError(`${where}: file not found; generate it or fix items.path in the job`);
  const columns = attributes.map((c) => sqlIdent(c)).join(', ');
  let r;
  try {
    r = await conn.runAndReadAll(
      `SELECT ${sqlIdent(idColumn)}::VARCHAR, ${columns} FROM ${readerFor(file, [idColumn])}${limit === undefined ? '' : ` LIMIT ${limit}`}`,
    );
  } catch (err) {
    throw new BadInputError(
      `${where}: cannot read the attribute columns ${attributes.map((c) => `"${c}"`).join(', ')} (items.attributes): ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  const numeric = attributes.map((_, i) => NUMERIC_AS_STRING.test(r.columnType(i + 1).toString()));
  const out = new Map<string, Record<string, AttributeValue>>();
  for (const row of r.getRowsJson()) {
    const values: Record<string, AttributeValue> = {};
    attributes.forEach((name, i) => {
      const v = row[i + 1] as AttributeValue;
      values[name] = numeric[i] && typeof v === 'string' ? Number(v) : v;
    });
    out.set(String(row[0]), values);
  }
  return out;
}
