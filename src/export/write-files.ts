// JSON Lines, Parquet and CSV exports. JSON Lines is written here, one object per user; Parquet and CSV
// are written by DuckDB from a temporary JSON Lines file, so DuckDB's own writers (Parquet row groups,
// CSV quoting) do the formats and its memory_limit keeps memory flat. apache-arrow has no Parquet or CSV
// writer; bench/README.md has the time and peak memory of each format.
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sqlString, withDuckDB } from '../read/duckdb.ts';
import { type ExportedGeneration, exportMetadata, type RowChunk } from './read-generation.ts';
import { drained } from './write-arrow.ts';

/** One line per user: {"user_id": ..., "item_ids": [...], "scores": [...]}, in user id order. */
export async function writeJsonl(chunks: AsyncIterable<RowChunk>, out: Writable): Promise<number> {
  let rows = 0;
  for await (const c of chunks) {
    let text = '';
    for (let i = 0; i < c.userIds.length; i++) {
      text += `{"user_id":${JSON.stringify(c.userIds[i])},"item_ids":${JSON.stringify(c.itemIds[i])},"scores":${JSON.stringify(c.scores[i])}}\n`;
    }
    rows += c.userIds.length;
    out.write(text);
    await drained(out);
  }
  return rows;
}

const JSONL_COLUMNS = `{'user_id': 'VARCHAR', 'item_ids': 'VARCHAR[]', 'scores': 'FLOAT[]'}`;

/**
 * Parquet: user_id, item_ids LIST<VARCHAR>, scores LIST<FLOAT>, one row per user, and batchcast.job, .prediction_date,
 * .run_id, .model_version and .k as key-value metadata (like Arrow).
 * CSV: one row per (user, rank) like the view batchcast.recommendations, header user_id,rank,item_id,score:
 * a list does not fit a CSV cell without a convention of its own, and this is what spreadsheets and
 * `COPY ... FROM` read.
 */
export async function writeWithDuckDB(
  format: 'parquet' | 'csv',
  g: ExportedGeneration,
  chunks: AsyncIterable<RowChunk>,
  out: Writable,
): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-export-'));
  try {
    const jsonl = path.join(dir, 'rows.jsonl');
    const file = createWriteStream(jsonl);
    const rows = await writeJsonl(chunks, file);
    file.end();
    await once(file, 'close');
    const result = path.join(dir, `out.${format}`);
    const source = `read_json(${sqlString(jsonl)}, columns = ${JSONL_COLUMNS}, format = 'newline_delimited')`;
    const query =
      format === 'parquet'
        ? `SELECT user_id, item_ids, scores FROM ${source}`
        : `SELECT user_id, unnest(range(1, len(item_ids) + 1)) AS rank, unnest(item_ids) AS item_id, unnest(scores) AS score FROM ${source}`;
    // Parquet carries the generation's context as key-value metadata, the same keys as Arrow's schema metadata.
    const kv = [...exportMetadata(g)].map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`).join(', ');
    const options = format === 'parquet' ? `(FORMAT parquet, COMPRESSION zstd, KV_METADATA {${kv}})` : '(FORMAT csv, HEADER true)';
    await withDuckDB({ threads: 1, memoryLimit: '64MB', tempDirectory: path.join(dir, 'duckdb') }, async (conn) => {
      await conn.run('SET preserve_insertion_order = true');
      await conn.run(`COPY (${query}) TO ${sqlString(result)} ${options}`);
    });
    await pipeline(createReadStream(result), out, { end: false });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
