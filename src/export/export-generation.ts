// `batchcast export` and GET .../export.arrow: one generation, streamed in chunks to a file, stdout or an
// HTTP response, with memory that does not grow with the generation (bench/README.md: peak RSS at 1M users).
import { once } from 'node:events';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { parseDate } from '../dates.ts';
import { BadInputError } from '../errors.ts';
import { type ExportedGeneration, findGeneration, type RowChunk, readGenerationRows } from './read-generation.ts';
import { writeArrow } from './write-arrow.ts';
import { writeJsonl, writeWithDuckDB } from './write-files.ts';

export const EXPORT_FORMATS = ['arrow', 'parquet', 'csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Users per cursor fetch and per Arrow record batch: ~2 MB of rows with k = 10, flat memory, few round trips. */
export const EXPORT_CHUNK_ROWS = 8192;

export interface GenerationSelector {
  job: string;
  date: string;
  /** a run of that (job, date) instead of the published one */
  runId?: number;
  /** users per fetch and per Arrow record batch (default EXPORT_CHUNK_ROWS) */
  chunkRows?: number;
}

/**
 * Finds the generation and hands `fn` its rows, inside one read-only transaction on one connection: the
 * rows are the generation's as of the lookup, and the partition cannot be dropped until the export ends.
 */
export async function withGeneration<T>(
  pool: pg.Pool,
  sel: GenerationSelector,
  fn: (g: ExportedGeneration, rows: () => AsyncGenerator<RowChunk>) => Promise<T>,
): Promise<T> {
  parseDate(sel.date);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin isolation level repeatable read read only');
    const g = await findGeneration(client, sel.job, sel.date, sel.runId);
    const out = await fn(g, () => readGenerationRows(client, g.runId, sel.chunkRows ?? EXPORT_CHUNK_ROWS));
    await client.query('commit');
    return out;
  } catch (err) {
    await client.query('rollback').catch((e: Error) => {
      broken = e;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Writes `rows` in `format` to `out` (not ended); returns the number of users written. */
export function writeExport(format: ExportFormat, g: ExportedGeneration, rows: AsyncIterable<RowChunk>, out: Writable): Promise<number> {
  switch (format) {
    case 'arrow':
      return writeArrow(g, rows, out);
    case 'jsonl':
      return writeJsonl(rows, out);
    default:
      return writeWithDuckDB(format, g, rows, out);
  }
}

export interface ExportOptions extends GenerationSelector {
  pool: pg.Pool;
  format: ExportFormat;
  /** a file path, or '-' for stdout */
  out: string;
}

export interface ExportResult {
  generation: ExportedGeneration;
  rows: number;
  format: ExportFormat;
  out: string;
  ms: number;
}

/** A file is written under a temporary name and renamed when complete: a failed export leaves no partial file. */
export async function exportGeneration(o: ExportOptions): Promise<ExportResult> {
  if (!EXPORT_FORMATS.includes(o.format))
    throw new BadInputError(`--format ${JSON.stringify(o.format)} is not a format: use ${EXPORT_FORMATS.join(', ')}`);
  const t0 = performance.now();
  return withGeneration(o.pool, o, async (g, rows) => {
    if (o.out === '-') {
      const n = await writeExport(o.format, g, rows(), process.stdout);
      // The CLI exits right after: wait until stdout has taken every byte.
      await new Promise<void>((resolve, reject) => process.stdout.write('', (err) => (err ? reject(err) : resolve())));
      return { generation: g, rows: n, format: o.format, out: o.out, ms: performance.now() - t0 };
    }
    const partial = `${o.out}.partial-${process.pid}`;
    const file = createWriteStream(partial);
    try {
      await once(file, 'open');
      const n = await writeExport(o.format, g, rows(), file);
      file.end();
      await once(file, 'close');
      renameSync(partial, o.out);
      return { generation: g, rows: n, format: o.format, out: o.out, ms: performance.now() - t0 };
    } catch (err) {
      file.destroy();
      rmSync(partial, { force: true });
      throw err;
    }
  }).catch((err) => {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      throw new BadInputError(
        `job ${o.job}, date ${o.date}: cannot write --out ${o.out} (${(err as Error).message}); check the directory exists and is writable`,
        { cause: err },
      );
    }
    throw err;
  });
}
