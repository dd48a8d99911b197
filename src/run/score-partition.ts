// The expensive middle of a run, shared by predict and by one shard of a sharded date (predict-shard.ts):
// check the date's partition, start the model, then read | infer | COPY into one table.
// The partition checks (schema, NULL and duplicate ids, min_rows) always cover the whole date, sharded or
// not: every shard then refuses the same bad partition with the same message, and a duplicate id split
// across two shards cannot slip through. Only the scan that feeds the model is filtered to the shard.
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { BadInputError } from '../errors.ts';
import { checkExamples } from '../infer/check-examples.ts';
import { InferPool } from '../infer/infer-pool.ts';
import type { ModelInfo } from '../infer/model-info.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { FeatureReadError, fileOfUser, findPartitionFiles, inspectPartition, type Partition } from '../read/read-features.ts';
import { readItems } from '../read/read-items.ts';
import type { Shard } from '../read/shard.ts';
import { CopyWriter } from '../store/copy-writer.ts';
import { attachRunTable, indexRunTable } from '../store/run-tables.ts';
import { BadRowError, type PipelineResult, type Progress, runPipeline } from './pipeline.ts';

export interface ScoreRequest {
  job: JobDefinition;
  date: string;
  config: Config;
  runId: number;
  model: ModelInfo;
  /** one COPY stream per connection */
  writes: pg.Client[];
  log: Logger;
  shard?: Shard;
  signal?: AbortSignal;
  onProgress?: (p: Progress & { totalRows: number }) => void;
  /** told the date's files as soon as they are found */
  onFiles: (files: string[]) => Promise<void>;
  /** told the items (index order) once checked against the model: rows store indices, the run records its item map */
  onItems: (itemIds: string[]) => Promise<void>;
  /** creates the table the COPY streams go into, just before streaming; returns its name */
  createTable: () => Promise<string>;
  timings: Record<string, number>;
}

export interface Scored {
  partition: Partition;
  files: string[];
  itemIds: string[];
  piped: PipelineResult;
  /** how often each item is in someone's top K */
  counts: Float64Array;
}

export async function scorePartition(r: ScoreRequest): Promise<Scored> {
  const { job, date, config, model } = r;
  const where = `job ${job.name}, date ${date}`;
  const mark = (stage: string, since: number) => {
    r.timings[stage] = Math.round(performance.now() - since);
  };
  let t = performance.now();
  let pool: InferPool | undefined;
  try {
    // DuckDB gets both cores for the checks (1M rows: 315 -> 187 ms), then one for the scan, which keeps
    // up with inference on one thread (1.2M rows/s alone) and leaves the other core to the model.
    return await withDuckDB(
      { threads: 2, memoryLimit: config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'), ...config.duckdb },
      async (conn) => {
        const files = await findPartitionFiles(conn, job, date);
        await r.onFiles(files);
        const itemIds = await readItems(conn, job);
        if (model.items !== undefined && model.items !== itemIds.length) {
          throw new BadInputError(
            `job ${job.name}: the model card says the model scores ${model.items} items but the items file ${job.items.path} has ${itemIds.length}; use the items file the model was trained with`,
          );
        }
        await r.onItems(itemIds);
        await checkExamples(job); // the job's feature order against the model's known answers, before any row is read
        // Starting the workers (thread start, model load, probe run) overlaps the partition checks.
        const starting = InferPool.start(job, {
          workers: job.workers ?? config.workers,
          intraOpThreads: job.intraOpThreads ?? config.intraOpThreads,
          itemIds,
        });
        const [inspected, started] = await Promise.allSettled([inspectPartition(conn, job, date, files), starting]);
        if (started.status === 'fulfilled') pool = started.value; // closed in finally whatever happens next
        if (inspected.status === 'rejected') throw inspected.reason;
        if (started.status === 'rejected') throw started.reason;
        const partition = inspected.value;
        if (pool!.fixedBatch !== undefined && pool!.fixedBatch < job.batchSize) {
          r.log.warn(
            `model ${job.model.path} fixes its batch size at ${pool!.fixedBatch} rows (its exporter was not told the batch axis is dynamic), so it runs ${pool!.fixedBatch} row(s) per call instead of batch_size ${job.batchSize}, which is slower; re-export it with a dynamic batch axis (torch.onnx.export: dynamic_axes or dynamic_shapes)`,
            { fixedBatch: pool!.fixedBatch },
          );
        }
        mark('prepare', t);
        const of = r.shard ? ` (shard ${r.shard.index}/${r.shard.count} of them)` : '';
        r.log.info(`reading ${partition.rows} users${of} from ${files.length} file(s)`, {
          files: files.length,
          rows: partition.rows,
          model: model.version,
        });

        // Stream: read | infer | COPY.
        await conn.run('SET threads = 1');
        t = performance.now();
        const table = await r.createTable();
        const writers = r.writes.map((w) => CopyWriter.open(w, r.runId, config.copyStallTimeoutMs, table));
        let piped;
        try {
          piped = await runPipeline({
            conn,
            job,
            files,
            idKind: partition.idKind,
            pool: pool!,
            writers,
            shard: r.shard,
            chunkRows: Math.max(job.batchSize, config.chunkRows),
            inFlight: config.inFlight,
            signal: r.signal,
            onProgress: (p) => r.onProgress?.({ ...p, totalRows: partition.rows }),
          });
        } catch (err) {
          for (const w of writers) w.abort(err as Error);
          if (err instanceof FeatureReadError) {
            throw new BadInputError(
              `${where}, file ${files.length === 1 ? files[0] : `one of ${files.join(', ')}`}: reading features failed (${err.message}); re-export the partition`,
              { cause: err },
            );
          }
          if (err instanceof BadRowError) {
            const file = await fileOfUser(conn, job, files, err.row.userId).catch(() => files.join(', '));
            throw new BadInputError(
              `${where}, file ${file}: ${err.message}; fix the export, or set bad_rows.mode to "skip" in the job to skip such rows`,
            );
          }
          throw err;
        }
        const copied = (await Promise.all(writers.map((w) => w.finish()))).reduce((a, b) => a + b, 0);
        mark('stream', t);
        if (copied !== piped.rowsWritten) throw new Error(`${where}: COPY reported ${copied} rows but ${piped.rowsWritten} were sent`);
        const counts = await pool!.itemCounts();
        Object.assign(r.timings, {
          read: Math.round(piped.readMs),
          infer: Math.round(piped.inferMs),
          encode: Math.round(piped.encodeMs),
          write_wait: Math.round(piped.writeMs),
        });
        return { partition, itemIds, piped, counts, files };
      },
    );
  } finally {
    await pool?.close();
  }
}

/** Too many bad rows (over bad_rows.max_bad_fraction of `rows`) fail the run; a few are skipped. */
export function checkBadRows(job: JobDefinition, where: string, piped: PipelineResult, rows: number): void {
  if (piped.rowsRejected === 0) return;
  const fraction = piped.rowsRejected / Math.max(1, rows);
  if (fraction > job.badRows.maxBadFraction) {
    throw new BadInputError(
      `${where}: ${piped.rowsRejected} of ${rows} rows are bad (${(fraction * 100).toFixed(2)}%, e.g. user ${piped.rejected[0].userId}: ${piped.rejected[0].reason}), over bad_rows.max_bad_fraction ${job.badRows.maxBadFraction}; fix the export`,
    );
  }
}

/** The popular items of the run (most often in someone's top K), served to users without a row. */
export function fallbackItems(counts: ArrayLike<number>, itemIds: string[], k: number, users: number) {
  const order = Array.from({ length: counts.length }, (_, i) => i)
    .sort((a, b) => counts[b] - counts[a] || a - b)
    .slice(0, k);
  return { itemIds: order.map((i) => itemIds[i]), scores: order.map((i) => (users ? counts[i] / users : 0)) };
}

/** A generation with no rows, or fewer than the job's min_rows, is never published. */
export function checkMinRows(job: JobDefinition, where: string, rows: number): void {
  if (rows === 0 || rows < job.minRows) {
    throw new BadInputError(`${where}: only ${rows} rows to publish, fewer than min_rows ${Math.max(1, job.minRows)}; nothing published`);
  }
}

/** After the load: the unique index, then ATTACH as a partition (still unpublished). */
export async function indexAndAttach(
  write: pg.ClientBase,
  runId: number,
  lockTimeoutMs: number,
  mark: (stage: string, since: number) => void,
): Promise<void> {
  let t = performance.now();
  await indexRunTable(write, runId);
  mark('index', t);
  t = performance.now();
  await attachRunTable(write, runId, lockTimeoutMs);
  mark('attach', t);
}
