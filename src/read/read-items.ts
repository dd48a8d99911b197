// The items file maps the model's item index (0..n-1) to an item id. CSV, Parquet or JSON, read by DuckDB.
import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { JobDefinition } from '../jobs/load-job.ts';
import { BadInputError } from '../errors.ts';
import { sqlIdent, sqlString } from './duckdb.ts';

export function readerFor(file: string): string {
  if (/\.parquet$/i.test(file)) return `read_parquet(${sqlString(file)})`;
  if (/\.jsonl?$/i.test(file) || /\.ndjson$/i.test(file)) return `read_json_auto(${sqlString(file)})`;
  return `read_csv(${sqlString(file)}, header = true, auto_detect = true)`;
}

/** Item ids by model index. Without an index column, the file's row order is the index. */
export async function readItems(conn: DuckDBConnection, job: JobDefinition): Promise<string[]> {
  const { path: file, idColumn, indexColumn } = job.items;
  const where = `job ${job.name}, items file ${file}`;
  if (!existsSync(file)) throw new BadInputError(`${where}: file not found; generate it or fix items.path in the job`);
  let rows: unknown[][];
  try {
    const index = indexColumn ? `${sqlIdent(indexColumn)}::BIGINT` : 'row_number() OVER () - 1';
    const r = await conn.runAndReadAll(`SELECT ${index} AS idx, ${sqlIdent(idColumn)}::VARCHAR AS id FROM ${readerFor(file)} ORDER BY idx`);
    rows = r.getRows();
  } catch (err) {
    throw new BadInputError(`${where}: cannot read columns "${idColumn}"${indexColumn ? ` and "${indexColumn}"` : ''}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const ids: string[] = [];
  const seen = new Set<string>();
  rows.forEach(([idx, id], i) => {
    if (Number(idx) !== i) throw new BadInputError(`${where}: column "${indexColumn}" must number items 0..n-1 without gaps; row ${i} has ${idx}`);
    if (id === null || id === '') throw new BadInputError(`${where}: item ${i} has an empty "${idColumn}"`);
    if (seen.has(id as string)) throw new BadInputError(`${where}: item id ${id} appears twice in "${idColumn}"`);
    seen.add(id as string);
    ids.push(id as string);
  });
  if (ids.length === 0) throw new BadInputError(`${where}: no items`);
  return ids;
}
