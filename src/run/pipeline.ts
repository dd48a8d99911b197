// The streaming middle of a run: read chunks -> score them in the worker pool -> COPY the encoded rows.
// At most `inFlight` chunks are between reading and writing (p-limit), so memory stays flat whatever the
// partition size, and the three stages overlap: DuckDB reads the next chunk while workers score and the
// COPY socket drains.

import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import type { InferPool } from '../infer/infer-pool.ts';
import type { BadRow } from '../infer/messages.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { type IdKind, readFeatures } from '../read/read-features.ts';
import type { Shard } from '../read/shard.ts';
import type { UserIds } from '../store/copy-binary.ts';
import type { CopyWriter } from '../store/copy-writer.ts';

export interface Progress {
  rowsRead: number;
  rowsScored: number;
  rowsWritten: number;
  rowsRejected: number;
}

export interface PipelineResult extends Progress {
  /** rows the job's bad_rows.mode = skip let through to the dead-letter table */
  rejected: BadRow[];
  readMs: number;
  inferMs: number;
  encodeMs: number;
  writeMs: number;
}

/** Thrown when a row is bad and the job rejects bad rows; predict adds the file name. */
export class BadRowError extends Error {
  constructor(readonly row: BadRow) {
    super(`user ${row.userId}: ${row.reason}`);
  }
}

export interface PipelineOptions {
  conn: DuckDBConnection;
  job: JobDefinition;
  files: string[];
  idKind: IdKind;
  pool: InferPool;
  /** one or more COPY streams into the run's table; chunks go round-robin */
  writers: CopyWriter[];
  chunkRows: number;
  inFlight: number;
  /** only this shard's users (predict --shard) */
  shard?: Shard;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const r: PipelineResult = {
    rowsRead: 0,
    rowsScored: 0,
    rowsWritten: 0,
    rowsRejected: 0,
    rejected: [],
    readMs: 0,
    inferMs: 0,
    encodeMs: 0,
    writeMs: 0,
  };
  const limit = pLimit(o.inFlight);
  const tasks = new Set<Promise<void>>();
  let failure: unknown;

  let turn = 0;
  const handle = async (ids: UserIds, features: Float32Array, rows: number) => {
    const scored = await o.pool.score(ids, features, rows);
    r.inferMs += scored.inferMs;
    r.encodeMs += scored.encodeMs;
    r.rowsScored += rows;
    if (scored.bad.length) {
      if (o.job.badRows.mode === 'reject') throw new BadRowError(scored.bad[0]);
      r.rejected.push(...scored.bad);
      r.rowsRejected += scored.bad.length;
    }
    const t = performance.now();
    await o.writers[turn++ % o.writers.length].write(scored.buffer);
    r.writeMs += performance.now() - t;
    r.rowsWritten += scored.rows;
    o.onProgress?.(r);
  };

  const chunks = readFeatures(o.conn, o.job, o.files, o.chunkRows, o.idKind, o.shard);
  try {
    for (;;) {
      const t = performance.now();
      const next = await chunks.next();
      r.readMs += performance.now() - t;
      if (next.done || failure || o.signal?.aborted) break;
      const c = next.value;
      r.rowsRead += c.rows;
      const task = limit(() => handle(c.ids, c.features, c.rows));
      tasks.add(task);
      task.then(
        () => tasks.delete(task),
        (err) => {
          failure ??= err;
          tasks.delete(task);
        },
      );
      while (tasks.size >= o.inFlight && !failure) await Promise.race(tasks).catch(() => {});
    }
  } finally {
    await chunks.return(undefined);
    await Promise.allSettled(tasks);
  }
  if (failure) throw failure;
  if (o.signal?.aborted) throw o.signal.reason ?? new Error('run aborted');
  return r;
}
