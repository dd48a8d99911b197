// Retention's archive: one run's rows, from PostgreSQL to a Parquet file, before retention drops the run.
// PostgreSQL streams them with COPY TO STDOUT (CSV, arrays as JSON) into a temporary file with
// backpressure, so memory does not grow with the date; DuckDB turns that file into Parquet and reads the
// result back to count it. The file appears at its path only complete (written beside it, then renamed).
// Row by row through DuckDB's appender was measured at ~5k rows/s (lists as JS values): not usable.
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Db } from '../db/connect.ts';
import { sqlString, withDuckDB } from '../read/duckdb.ts';
import { generationSource } from '../store/run-tables.ts';

export interface ArchiveRequest {
  job: string;
  date: string;
  runId: number;
  modelVersion: string | null;
  /** Absolute path template with {job} and {date}, e.g. /srv/batchcast/data/archive/{job}/dt={date}.parquet */
  template: string;
  /** DuckDB's memory cap while converting (config duckdbMemoryLimit) */
  memoryLimit: string;
}

export interface Archived {
  path: string;
  rows: number;
}

/** The archive path of (job, date): the template with {job} and {date} filled in. */
export function archivePath(template: string, job: string, date: string): string {
  return template.replaceAll('{job}', job).replaceAll('{date}', date);
}

/** Writes run `runId`'s rows to the archive path as Parquet and checks that it reads back whole. */
export async function archiveGeneration(db: Db, req: ArchiveRequest): Promise<Archived> {
  const target = archivePath(req.template, req.job, req.date);
  const where = `job ${req.job}, date ${req.date}, run ${req.runId}`;
  const csv = path.join(os.tmpdir(), `batchcast-archive-${process.pid}-${req.runId}.csv`);
  const partial = `${target}.partial-${process.pid}`;
  const client = await db.pool.connect();
  try {
    mkdirSync(path.dirname(target), { recursive: true });
    const copied = await streamRows(client, req.runId, csv);
    await withDuckDB(
      { threads: 1, memoryLimit: req.memoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb') },
      async (conn) => {
        await conn.run(`COPY (
          SELECT ${sqlString(req.job)} AS job, DATE ${sqlString(req.date)} AS prediction_date, ${Math.trunc(req.runId)}::BIGINT AS run_id,
                 ${req.modelVersion === null ? 'NULL::VARCHAR' : sqlString(req.modelVersion)} AS model_version, user_id,
                 from_json(item_ids, '["VARCHAR"]') AS item_ids, from_json(scores, '["FLOAT"]') AS scores
            FROM read_csv(${sqlString(csv)}, header = false, delim = ',', quote = '"', escape = '"',
                          columns = {'user_id': 'VARCHAR', 'item_ids': 'VARCHAR', 'scores': 'VARCHAR'})
        ) TO ${sqlString(partial)} (FORMAT parquet)`);
        const back = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet(${sqlString(partial)})`);
        const rows = Number(back.getRowObjects()[0].n);
        if (rows !== copied)
          throw new Error(`${where}: the archive ${partial} reads back ${rows} rows but PostgreSQL sent ${copied}; nothing was dropped`);
      },
    );
    renameSync(partial, target);
    return { path: target, rows: copied };
  } catch (err) {
    removeQuietly(partial);
    throw new Error(
      `${where}: archiving to ${target} failed (${(err as Error).message}); nothing was dropped, fix the archive path or disk and run retention again`,
      { cause: err },
    );
  } finally {
    client.release();
    removeQuietly(csv);
  }
}

function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    /* never created, or its folder is not one: nothing to remove */
  }
}

/** COPY TO STDOUT into `file`, honouring backpressure; returns the row count. */
async function streamRows(client: pg.PoolClient, runId: number, file: string): Promise<number> {
  const stream = client.query(
    copyTo(
      `copy (select user_id, array_to_json(item_ids), array_to_json(scores) from ${generationSource(runId)}) to stdout with (format csv)`,
    ),
  );
  await pipeline(stream, createWriteStream(file));
  return stream.rowCount ?? 0;
}
