// One run of job J for date D, start to finish:
//   migrate -> lock (J, D) -> ledger row -> check inputs -> read | infer | COPY -> index -> attach -> guard -> publish
// The guard (profile, compare, gates) may hold the run back: then it stays written, status held, unpublished.
// On any failure: the run is marked failed with the reason, its table is dropped, nothing is published,
// and the error (with its exit code) reaches the caller. The previous generation keeps being served.
import os from 'node:os';
import type { Config } from '../config/load-config.ts';
import { parseDate } from '../dates.ts';
import { connectClient, type Db } from '../db/connect.ts';
import { describeError, InfraError } from '../errors.ts';
import { type GuardResult, guardRun, startGuard, withCandidateModel } from '../guard/guard-run.ts';
import { modelInfo } from '../infer/model-info.ts';
import { type JobDefinition, loadJob } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { retainAfterPublish } from '../retention/retain-after-publish.ts';
import { saveItemMap } from '../store/item-maps.ts';
import { failAbandonedRuns, markFailed, markSucceeded, markUnpublished, startRun, updateRun } from '../store/ledger.ts';
import { acquireRunLock } from '../store/locks.ts';
import { migrate } from '../store/migrate.ts';
import { publishRun } from '../store/pointer.ts';
import { saveRejectedRows } from '../store/rejected-rows.ts';
import { createRunTable, dropRunTable } from '../store/run-tables.ts';
import { runTable } from '../store/tables.ts';
import type { Progress } from './pipeline.ts';
import { isPublishUnresolved, resolvePublish, sessionPid } from './resolve-publish.ts';
import { checkBadRows, checkMinRows, fallbackItems, indexAndAttach, scorePartition } from './score-partition.ts';

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

export async function predict(opts: PredictOptions): Promise<PredictResult> {
  const { config, db } = opts;
  const t0 = performance.now();
  const date = parseDate(opts.date);
  const job = withCandidateModel(typeof opts.job === 'string' ? loadJob(config.jobsDir, opts.job, config.root) : opts.job, opts);
  const log = opts.log.child({ job: job.name, date });
  const where = `job ${job.name}, date ${date}`;
  const timings: Record<string, number> = {};
  const mark = (stage: string, since: number) => {
    timings[stage] = Math.round(performance.now() - since);
  };

  await migrate(db.pool);
  const lock = await acquireRunLock(db.url, config, job.name, date);
  let runId: number | undefined;
  let tableCreated = false;
  let published = false;
  let kept = false; // a held or shadow run keeps its table
  // config.copyConnections COPY streams into the run's table, each on its own connection (the first also
  // creates, indexes and attaches the table). More than one only pays when the server has idle cores.
  const writes = await Promise.all(
    Array.from({ length: config.copyConnections }, () =>
      connectClient(db.url, config, {
        applicationName: `batchcast write ${job.name} ${date}`.slice(0, 63),
        statementTimeoutMs: 0,
        queryTimeoutMs: config.writeQueryTimeoutMs,
        onError: () => {},
      }),
    ),
  ).catch(async (err) => {
    await lock.release();
    throw err;
  });
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
    await updateRun(db.pool, runId, {
      modelVersion: model.version,
      modelSha256: model.sha256,
      k: job.k,
      modelPath: opts.modelPath && job.model.path,
    });
    const result = await scorePartition({
      job,
      date,
      config,
      runId,
      model,
      writes,
      log,
      signal: opts.signal,
      onProgress: opts.onProgress,
      timings,
      onFiles: (files) => updateRun(db.pool, runId!, { inputFiles: files }),
      onItems: async (ids) => updateRun(db.pool, runId!, { itemsSha256: await saveItemMap(db.pool, ids) }),
      createTable: async () => {
        await createRunTable(write, runId!);
        tableCreated = true;
        return runTable(runId!);
      },
    });
    const { partition, piped } = result;
    checkBadRows(job, where, piped, partition.rows);
    if (piped.rowsRejected > 0) {
      await saveRejectedRows(db.pool, runId, piped.rejected);
      log.warn(`${piped.rowsRejected} bad rows skipped; see batchcast.rejected_rows`, { runId, rejected: piped.rowsRejected });
    }
    checkMinRows(job, where, piped.rowsWritten);

    // The guard's input profile reads only the files: it runs in DuckDB while PostgreSQL builds the index.
    const guardStart = startGuard(db.pool, {
      job,
      date,
      runId,
      config,
      files: result.files,
      rowsRead: piped.rowsRead,
      rowsWritten: piped.rowsWritten,
    });
    await indexAndAttach(write, runId, config.publishLockTimeoutMs, mark);
    await updateRun(db.pool, runId, {
      rowsRead: piped.rowsRead,
      rowsWritten: piped.rowsWritten,
      rowsRejected: piped.rowsRejected,
      fallback: job.fallback ? fallbackItems(result.counts, result.itemIds, job.k, piped.rowsWritten) : undefined,
    });

    // Profile, compare with the generation this one would replace, judge by the job's gates.
    t = performance.now();
    const guard = await guardRun(
      db.pool,
      {
        job,
        date,
        runId,
        config,
        files: result.files,
        rowsRead: piped.rowsRead,
        rowsWritten: piped.rowsWritten,
        itemIds: result.itemIds,
        itemCounts: result.counts,
        shadow: opts.shadow,
      },
      guardStart,
    );
    mark('guard', t);
    const done = (status: PredictResult['status'], previousRunId?: number): PredictResult => {
      const seconds = (performance.now() - t0) / 1000;
      return {
        runId: runId!,
        job: job.name,
        date,
        rows: piped.rowsWritten,
        rejected: piped.rowsRejected,
        seconds,
        usersPerSecond: piped.rowsWritten / seconds,
        modelVersion: model.version,
        previousRunId,
        timings,
        status,
        guard,
      };
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
    const tPublish = performance.now();
    const pub = await publishRun(
      lock.client,
      { job: job.name, date, runId, action: 'publish', lockTimeoutMs: config.publishLockTimeoutMs },
      (tx) => markSucceeded(tx, runId!, { ...timings, publish: 0 }),
    ).catch((err) =>
      resolvePublish({ dbUrl: db.url, config, job: job.name, date, runId: runId!, pid: sessionPid(lock.client), log }, err, tPublish),
    );
    published = true;
    timings.publish = Math.round(pub.ms);
    await updateRun(db.pool, runId, { timings });
    log.info(`run ${runId} published`, { runId, rows: piped.rowsWritten, previous: pub.previousRunId ?? null, publishMs: timings.publish });

    await retainAfterPublish(db, write, { job, date, config, log, where });

    return done('published', pub.previousRunId);
  } catch (err) {
    const message = describeError(err);
    log.error(`run ${runId ?? '(not started)'} failed: ${message}`, { runId });
    // An unresolved publish may have committed: nothing is marked failed or dropped (resolve-publish.ts).
    if (runId !== undefined && !published && !isPublishUnresolved(err)) {
      timings.total = Math.round(performance.now() - t0);
      await markFailed(db.pool, runId, message, timings).catch((e) => log.error(`could not mark run ${runId} failed: ${describeError(e)}`));
      if (tableCreated && !kept)
        await dropRunTable(db.pool, runId).catch((e) =>
          log.warn(`could not drop the table of failed run ${runId}: ${describeError(e)}; prune will`),
        );
    }
    throw err;
  } finally {
    for (const w of writes) await w.end().catch(() => {});
    await lock.release();
  }
}
