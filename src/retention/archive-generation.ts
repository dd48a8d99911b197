// Retention's archive: one run's rows, from PostgreSQL to a Parquet file, before retention drops the run.
// PostgreSQL streams them with COPY TO STDOUT (CSV, arrays as JSON) into a temporary file with
// backpressure, so memory does not grow with the date; DuckDB turns that file into Parquet and reads the
// result back to count it. The file appears at its path only complete (written beside it, fsynced, then
// linked into place, and its folder fsynced) before the caller drops any row: a crash or a power cut after
// the drop cannot leave a torn or missing archive. An archive of another run at the path is never replaced.
// Row by row through DuckDB's appender was measured at ~5k rows/s (lists as JS values): not usable.
import { closeSync, createWriteStream, existsSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { connectLike, type Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { archiveTemplateProblem } from '../jobs/job-schema.ts';
import { sqlString, withDuckDB } from '../read/duckdb.ts';
import { generationSource } from '../store/run-tables.ts';

export interface ArchiveRequest {
  job: string;
  date: string;
  runId: number;
  modelVersion: string | null;
  /** Absolute path template with {job} and {date} (and optionally {run}), e.g. /srv/batchcast/data/archive/{job}/dt={date}.parquet */
  template: string;
  /** DuckDB's memory cap while converting (config duckdbMemoryLimit) */
  memoryLimit: string;
  /** statement_timeout of the COPY (config archiveTimeoutMs), on a connection of its own: not the pool's 60 s */
  timeoutMs: number;
}

export interface Archived {
  path: string;
  rows: number;
}

/** The archive path of (job, date, run): the template with {job}, {date} and {run} filled in. */
export function archivePath(template: string, job: string, date: string, runId: number): string {
  return template.replaceAll('{job}', job).replaceAll('{date}', date).replaceAll('{run}', String(runId));
}

/** Writes run `runId`'s rows to the archive path as Parquet and checks that it reads back whole. */
export async function archiveGeneration(db: Db, req: ArchiveRequest): Promise<Archived> {
  const where = `job ${req.job}, date ${req.date}, run ${req.runId}`;
  const problem = archiveTemplateProblem(req.template);
  if (problem)
    throw new BadInputError(
      `${where}: the archive path ${req.template} ${problem}; write e.g. "data/archive/{job}/dt={date}.parquet" in retention.archive; nothing was dropped`,
    );
  const target = archivePath(req.template, req.job, req.date, req.runId);
  const csv = path.join(os.tmpdir(), `batchcast-archive-${process.pid}-${req.runId}.csv`);
  const partial = `${target}.partial-${process.pid}`;
  const client = await connectLike(db.pool, {
    applicationName: `batchcast archive ${req.runId}`,
    statementTimeoutMs: req.timeoutMs,
    queryTimeoutMs: req.timeoutMs + 5_000,
  });
  let existing: ArchiveOwner | null | undefined;
  try {
    mkdirSync(path.dirname(target), { recursive: true });
    existing = await archiveOwner(target, req.memoryLimit);
    if (existing !== undefined && !(existing?.job === req.job && existing.runId === req.runId)) throw new ArchiveTaken(target, existing);
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
    fsyncPath(partial);
    // link fails if the path appeared meanwhile (rename would replace it); a retry of this very run replaces its own file
    if (existing) renameSync(partial, target);
    else {
      linkSync(partial, target);
      rmSync(partial);
    }
    fsyncPath(path.dirname(target));
    return { path: target, rows: copied };
  } catch (err) {
    removeQuietly(partial);
    if (err instanceof ArchiveTaken) throw new BadInputError(`${where}: ${err.message}; nothing was dropped`, { cause: err });
    const timedOut = (err as { code?: string }).code === '57014'; // query_canceled: statement_timeout
    const fix = timedOut ? `raise archiveTimeoutMs (now ${req.timeoutMs} ms)` : 'fix the archive path or disk';
    throw new Error(
      `${where}: archiving to ${target} failed (${(err as Error).message}); nothing was dropped, ${fix} and run retention again`,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => {});
    removeQuietly(csv);
  }
}

interface ArchiveOwner {
  job: string;
  runId: number;
}

class ArchiveTaken extends Error {
  constructor(target: string, owner: ArchiveOwner | null) {
    super(
      `the archive ${target} already exists and holds ${owner ? `run ${owner.runId} of job ${owner.job}` : 'something that is not a batchcast archive'}; ` +
        'it is never replaced: move it away, or put {run} in retention.archive to keep one file per run, and run retention again',
    );
  }
}

/** Which run the archive at `file` holds: undefined when there is no file, null when it is not one of ours. */
async function archiveOwner(file: string, memoryLimit: string): Promise<ArchiveOwner | null | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return await withDuckDB({ threads: 1, memoryLimit }, async (conn) => {
      const r = await conn.runAndReadAll(`SELECT job, run_id FROM read_parquet(${sqlString(file)}) LIMIT 1`);
      const o = r.getRowObjects()[0];
      return o ? { job: String(o.job), runId: Number(o.run_id) } : null;
    });
  } catch {
    return null;
  }
}

/** fsync a file or a folder (the folder holds the new name): the data and the name reach the disk. */
function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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
async function streamRows(client: pg.Client, runId: number, file: string): Promise<number> {
  const stream = client.query(
    copyTo(
      `copy (select user_id, array_to_json(item_ids), array_to_json(scores) from ${generationSource(runId)}) to stdout with (format csv)`,
    ),
  );
  await pipeline(stream, createWriteStream(file));
  return stream.rowCount ?? 0;
}
