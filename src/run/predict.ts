// One run of job J for date D, start to finish:
//   migrate -> lock (J, D) -> ledger row -> check inputs -> read | infer | COPY -> index -> attach -> guard -> publish
// The guard (profile, compare, gates) may hold the run back: then it stays written, status held, unpublished.
// On any failure: the run is marked failed with the reason, its table is dropped, nothing is published,
// and the error (with its exit code) reaches the caller. The previous generation keeps being served.
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import { connectClient, type Db } from '../db/connect.ts';
import { migrate } from '../db/migrate.ts';
import { BadInputError, InfraError, describeError } from '../errors.ts';
import { guardRun, withCandidateModel, type GuardResult } from '../guard/guard-run.ts';
import { InferPool } from '../infer/infer-pool.ts';
import { modelInfo } from '../infer/model-info.ts';
import { loadJob, type JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { FeatureReadError, fileOfUser, findPartitionFiles, inspectPartition } from '../read/read-features.ts';
import { readItems } from '../read/read-items.ts';
import { saveItemMap } from '../write/item-maps.ts';
import { publishRun } from '../write/publish.ts';
import { CopyWriter, attachRunTable, createRunTable, dropRunTable, indexRunTable } from '../write/write-predictions.ts';
import { parseDate } from './dates.ts';
import { failAbandonedRuns, markFailed, markSucceeded, markUnpublished, startRun, updateRun } from './ledger.ts';
import { acquireRunLock } from './lock.ts';
import { BadRowError, runPipeline, type Progress } from './pipeline.ts';
import { pruneGenerations } from './prune.ts';
import { retainJobDates } from './retain-dates.ts';
import { saveRejectedRows } from './rejected-rows.ts';

export interface PredictOptions {
  job: string | JobDefinition;
  date: string;
  config: Config;
  db: Db;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (p: Progress & { totalRows: number }) => void;
  /** write, profile and compare, never publish (status shadow) */
  shadow?: boolean;
  /** a shadow run's candidate model file instead of the job's */
  modelPath?: string;
}

export interface PredictResult {
  runId: number;
  job: string;
  date: string;
  rows: number;
  rejected: number;
  seconds: number;
  usersPerSecond: number;
  modelVersion: string;
  previousRunId: number | undefined;
  timings: Record<string, number>;
  /** published; held back by a gate (exit 6 from the CLI); or a shadow run */
  status: 'published' | 'held' | 'shadow';
  guard: GuardResult;
}

/** The popular items of the run (most often in someone's top K), served to users without a row. */
function fallbackItems(counts: Float64Array, itemIds: string[], k: number, users: number) {
  const order = Array.from(counts.keys()).sort((a, b) => counts[b] - counts[a] || a - b).slice(0, k);
  return { itemIds: order.map((i) => itemIds[i]), scores: order.map((i) => (users ? counts[i] / users : 0)) };
}

export async function predict(opts: PredictOptions): Promise<PredictResult> {
  const { config, db } = opts;
  const t0 = performance.now();
  const date = parseDate(opts.date);
  const job = withCandidateModel(typeof opts.job === 'string' ? loadJob(config.jobsDir, opts.job, config.root) : opts.job, opts);
  const log = opts.log.child({ job: job.name, date });
  const where = `job ${job.name}, date ${date}`;
  const timings: Record<string, number> = {};
  const mark = (stage: string, since: number) => { timings[stage] = Math.round(performance.now() - since); };

  await migrate(db.pool);
  const lock = await acquireRunLock(db.url, config, job.name, date);
  let runId: number | undefined;
  let tableCreated = false;
  let published = false;
  let kept = false; // a held or shadow run keeps its table
  let pool: InferPool | undefined;
  // config.copyConnections COPY streams into the run's table, each on its own connection (the first also
  // creates, indexes and attaches the table). More than one only pays when the server has idle cores.
  const writes = await Promise.all(Array.from({ length: config.copyConnections }, () => connectClient(db.url, config, {
    applicationName: `batchcast write ${job.name} ${date}`.slice(0, 63), statementTimeoutMs: 0, queryTimeoutMs: config.writeQueryTimeoutMs, onError: () => {},
  }))).catch(async (err) => { await lock.release(); throw err; });
  const write = writes[0];
  try {
    runId = await startRun(db.pool, job.name, date);
    log.info(`run ${runId} started`, { runId, host: os.hostname() });
    for (const old of await failAbandonedRuns(db.pool, job.name, date, runId)) {
      await dropRunTable(write, old);
      log.warn(`run ${old} was left running by a process that died; marked failed and cleaned up`, { runId: old });
    }

    // Check everything that can be checked before the expensive part.
    let t = performance.now();
    const model = await modelInfo(job);
    await updateRun(db.pool, runId, { modelVersion: model.version, modelSha256: model.sha256, k: job.k, modelPath: opts.modelPath && job.model.path });
    // DuckDB gets both cores for the checks (1M rows: 315 -> 187 ms), then one for the scan, which keeps
    // up with inference on one thread (1.2M rows/s alone) and leaves the other core to the model.
    const result = await withDuckDB({ threads: 2, memoryLimit: config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'), ...config.duckdb }, async (conn) => {
      const files = await findPartitionFiles(conn, job, date);
      await updateRun(db.pool, runId!, { inputFiles: files });
      const itemIds = await readItems(conn, job);
      if (model.items !== undefined && model.items !== itemIds.length) {
        throw new BadInputError(`job ${job.name}: the model card says the model scores ${model.items} items but the items file ${job.items.path} has ${itemIds.length}; use the items file the model was trained with`);
      }
      // rows store item indices; their ids are stored once per items file (sql/006)
      await updateRun(db.pool, runId!, { itemsSha256: await saveItemMap(db.pool, itemIds) });
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
      mark('prepare', t);
      log.info(`reading ${partition.rows} users from ${files.length} file(s)`, { files: files.length, rows: partition.rows, model: model.version });

      // Stream: read | infer | COPY.
      await conn.run('SET threads = 1');
      t = performance.now();
      await createRunTable(write, runId!);
      tableCreated = true;
      const writers = writes.map((w) => CopyWriter.open(w, runId!, config.copyStallTimeoutMs));
      let piped;
      try {
        piped = await runPipeline({
          conn, job, files, idKind: partition.idKind, pool: pool!, writers,
          chunkRows: Math.max(job.batchSize, config.chunkRows),
          inFlight: config.inFlight,
          signal: opts.signal,
          onProgress: (p) => opts.onProgress?.({ ...p, totalRows: partition.rows }),
        });
      } catch (err) {
        for (const w of writers) w.abort(err as Error);
        if (err instanceof FeatureReadError) {
          throw new BadInputError(`${where}, file ${files.length === 1 ? files[0] : `one of ${files.join(', ')}`}: reading features failed (${err.message}); re-export the partition`, { cause: err });
        }
        if (err instanceof BadRowError) {
          const file = await fileOfUser(conn, job, files, err.row.userId).catch(() => files.join(', '));
          throw new BadInputError(`${where}, file ${file}: ${err.message}; fix the export, or set bad_rows.mode to "skip" in the job to skip such rows`);
        }
        throw err;
      }
      const copied = (await Promise.all(writers.map((w) => w.finish()))).reduce((a, b) => a + b, 0);
      mark('stream', t);
      if (copied !== piped.rowsWritten) throw new Error(`${where}: COPY reported ${copied} rows but ${piped.rowsWritten} were sent`);
      const counts = await pool!.itemCounts();
      return { partition, itemIds, piped, counts, files };
    });
    const { partition, piped } = result;
    Object.assign(timings, { read: Math.round(piped.readMs), infer: Math.round(piped.inferMs), encode: Math.round(piped.encodeMs), write_wait: Math.round(piped.writeMs) });

    if (piped.rowsRejected > 0) {
      const fraction = piped.rowsRejected / partition.rows;
      if (fraction > job.badRows.maxBadFraction) {
        throw new BadInputError(`${where}: ${piped.rowsRejected} of ${partition.rows} rows are bad (${(fraction * 100).toFixed(2)}%, e.g. user ${piped.rejected[0].userId}: ${piped.rejected[0].reason}), over bad_rows.max_bad_fraction ${job.badRows.maxBadFraction}; fix the export`);
      }
      await saveRejectedRows(db.pool, runId, piped.rejected);
      log.warn(`${piped.rowsRejected} bad rows skipped; see batchcast.rejected_rows`, { runId, rejected: piped.rowsRejected });
    }
    if (piped.rowsWritten === 0 || piped.rowsWritten < job.minRows) {
      throw new BadInputError(`${where}: only ${piped.rowsWritten} rows to publish, fewer than min_rows ${Math.max(1, job.minRows)}; nothing published`);
    }

    t = performance.now();
    await indexRunTable(write, runId);
    mark('index', t);
    t = performance.now();
    await attachRunTable(write, runId, config.publishLockTimeoutMs);
    mark('attach', t);
    await updateRun(db.pool, runId, {
      rowsRead: piped.rowsRead,
      rowsWritten: piped.rowsWritten,
      rowsRejected: piped.rowsRejected,
      fallback: job.fallback ? fallbackItems(result.counts, result.itemIds, job.k, piped.rowsWritten) : undefined,
    });

    // Profile, compare with the generation this one would replace, judge by the job's gates.
    t = performance.now();
    const guard = await guardRun(db.pool, { job, date, runId, config, files: result.files, rowsRead: piped.rowsRead, rowsWritten: piped.rowsWritten,
      itemIds: result.itemIds, itemCounts: result.counts, shadow: opts.shadow });
    mark('guard', t);
    const done = (status: PredictResult['status'], previousRunId?: number): PredictResult => {
      const seconds = (performance.now() - t0) / 1000;
      return { runId: runId!, job: job.name, date, rows: piped.rowsWritten, rejected: piped.rowsRejected, seconds,
        usersPerSecond: piped.rowsWritten / seconds, modelVersion: model.version, previousRunId, timings, status, guard };
    };
    if (opts.shadow || guard.line) {
      kept = true;
      timings.total = Math.round(performance.now() - t0);
      await markUnpublished(db.pool, runId, opts.shadow ? 'shadow' : 'held', guard.line ?? null, timings);
      log[guard.line ? 'warn' : 'info'](guard.line ?? `shadow run ${runId} written and compared; never published`, { runId });
      return done(opts.shadow ? 'shadow' : 'held', guard.referenceRunId ?? undefined);
    }

    log.info(`run ${runId} written: ${piped.rowsWritten} rows indexed and attached; publishing`, { runId });
    // Publish on the lock's own connection: if the lock was lost, this fails instead of publishing.
    const lost = lock.lost();
    if (lost) throw new InfraError(`${where}: the lock connection was lost (${lost.message}); not publishing, rerun the date`);
    timings.total = Math.round(performance.now() - t0);
    const pub = await publishRun(lock.client, { job: job.name, date, runId, action: 'publish', lockTimeoutMs: config.publishLockTimeoutMs },
      (tx) => markSucceeded(tx, runId!, { ...timings, publish: 0 }));
    published = true;
    timings.publish = Math.round(pub.ms);
    await updateRun(db.pool, runId, { timings });
    log.info(`run ${runId} published`, { runId, rows: piped.rowsWritten, previous: pub.previousRunId ?? null, publishMs: timings.publish });

    await pruneGenerations(db, write, { job: job.name, date, keep: job.retention.keep })
      .then(() => retainJobDates(db, write, job, config, log))
      .catch((err) => log.warn(`retention for ${where} failed (the run is published): ${describeError(err)}`));

    return done('published', pub.previousRunId);
  } catch (err) {
    const message = describeError(err);
    log.error(`run ${runId ?? '(not started)'} failed: ${message}`, { runId });
    if (runId !== undefined && !published) {
      timings.total = Math.round(performance.now() - t0);
      await markFailed(db.pool, runId, message, timings).catch((e) => log.error(`could not mark run ${runId} failed: ${describeError(e)}`));
      if (tableCreated && !kept) await dropRunTable(db.pool, runId).catch((e) => log.warn(`could not drop the table of failed run ${runId}: ${describeError(e)}; prune will`));
    }
    throw err;
  } finally {
    await pool?.close();
    for (const w of writes) await w.end().catch(() => {});
    await lock.release();
  }
}
