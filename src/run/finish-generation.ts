// The end of a sharded generation, done once by the shard that completed it (or by a rerun of any index
// when that process died): under the (job, date) run lock, merge the shard tables into the run's table,
// index, attach, guard the whole generation, publish. The publish transaction counts the succeeded shards
// again, so a generation is published only with all N of them.
// Guard: output profiles use the shards' item counts added together and one SQL sample of the merged
// table; the input profile is one DuckDB pass over the whole date (profile-inputs.ts), as for a plain run.
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/load-config.ts';
import { connectClient, type Db } from '../db/connect.ts';
import { describeError, ExitCode, exitCodeOf, InfraError } from '../errors.ts';
import { guardRun } from '../guard/guard-run.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { readItems } from '../read/read-items.ts';
import { retainAfterPublish } from '../retention/retain-after-publish.ts';
import { getRun, markFailed, markSucceeded, markUnpublished, updateRun } from '../store/ledger.ts';
import { acquireRunLock } from '../store/locks.ts';
import { publishRun } from '../store/pointer.ts';
import { createRunTable, dropRunTable } from '../store/run-tables.ts';
import { shardTotals, succeededShards } from '../store/shard-ledger.ts';
import { dropShardTables, mergeShardTables } from '../store/shard-tables.ts';
import type { PredictResult } from './predict.ts';
import { isPublishUnresolved, resolvePublish, sessionPid } from './resolve-publish.ts';
import { checkMinRows, fallbackItems, indexAndAttach } from './score-partition.ts';

export interface FinishRequest {
  db: Db;
  config: Config;
  job: JobDefinition;
  date: string;
  runId: number;
  shards: number;
  log: Logger;
  succeeded: number;
  t0: number;
}

/** Publishes (or holds) the generation; undefined when another process already finished it. */
export async function finishGeneration(r: FinishRequest): Promise<PredictResult | undefined> {
  const { db, config, job, date, runId, shards, log } = r;
  const where = `job ${job.name}, date ${date}, run ${runId} (${shards} shards)`;
  const lock = await acquireRunLock(db.url, config, job.name, date);
  const write = await connectClient(db.url, config, {
    applicationName: `batchcast finish ${job.name} ${date}`.slice(0, 63),
    statementTimeoutMs: 0,
    queryTimeoutMs: config.writeQueryTimeoutMs,
    onError: () => {},
  }).catch(async (err) => {
    await lock.release();
    throw err;
  });
  const timings: Record<string, number> = {};
  const mark = (stage: string, since: number) => {
    timings[stage] = Math.round(performance.now() - since);
  };
  let tableCreated = false;
  let done = false; // published or held: the run's table stays
  try {
    const run = await getRun(db.pool, runId);
    if (run?.status !== 'running' || (await succeededShards(db.pool, runId)) !== shards) {
      log.info(`run ${runId} is ${run?.status ?? 'gone'}: another process finished it`, { runId });
      return undefined;
    }
    log.info(`run ${runId}: all ${shards} shards succeeded; merging, indexing, attaching, guarding, publishing`, { runId });
    let t = performance.now();
    await dropRunTable(write, runId); // a finisher that died midway left it
    await createRunTable(write, runId);
    tableCreated = true;
    const merged = await mergeShardTables(write, runId, shards);
    mark('merge', t);
    const itemIds = await withDuckDB(
      { threads: 1, memoryLimit: config.duckdbMemoryLimit, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb'), ...config.duckdb },
      (conn) => readItems(conn, job),
    );
    const totals = await shardTotals(db.pool, runId, itemIds.length);
    if (merged !== totals.rowsWritten)
      throw new InfraError(`${where}: the shard tables hold ${merged} rows but the shards reported ${totals.rowsWritten}; rerun the date`);
    checkMinRows(job, where, totals.rowsWritten);
    await indexAndAttach(write, runId, config.publishLockTimeoutMs, mark);
    await updateRun(db.pool, runId, {
      rowsRead: totals.rowsRead,
      rowsWritten: totals.rowsWritten,
      rowsRejected: totals.rowsRejected,
      fallback: job.fallback ? fallbackItems(totals.itemCounts, itemIds, job.k, totals.rowsWritten) : undefined,
    });

    t = performance.now();
    const guard = await guardRun(db.pool, {
      job,
      date,
      runId,
      config,
      files: run.input_files,
      rowsRead: totals.rowsRead,
      rowsWritten: totals.rowsWritten,
      itemIds,
      itemCounts: totals.itemCounts,
    });
    mark('guard', t);
    const result = (status: PredictResult['status'], previousRunId?: number): PredictResult => {
      const seconds = (performance.now() - r.t0) / 1000;
      return {
        runId,
        job: job.name,
        date,
        rows: totals.rowsWritten,
        rejected: totals.rowsRejected,
        seconds,
        usersPerSecond: totals.rowsWritten / seconds,
        modelVersion: run.model_version ?? '',
        previousRunId,
        timings,
        status,
        guard,
      };
    };
    if (guard.line) {
      done = true;
      await markUnpublished(db.pool, runId, 'held', guard.line, timings);
      await dropShardTables(write, runId, shards);
      log.warn(guard.line, { runId });
      return result('held', guard.referenceRunId ?? undefined);
    }
    const lost = lock.lost();
    if (lost) throw new InfraError(`${where}: the lock connection was lost (${lost.message}); not publishing, rerun any shard of the date`);
    const tPublish = performance.now();
    const pub = await publishRun(
      lock.client,
      { job: job.name, date, runId, action: 'publish', lockTimeoutMs: config.publishLockTimeoutMs },
      async (tx) => {
        const n = await succeededShards(tx, runId);
        if (n !== shards) throw new InfraError(`${where}: only ${n} of ${shards} shards are succeeded at publish; not publishing`);
        await markSucceeded(tx, runId, timings);
      },
    ).catch((err) =>
      resolvePublish({ dbUrl: db.url, config, job: job.name, date, runId, pid: sessionPid(lock.client), log }, err, tPublish),
    );
    done = true;
    timings.publish = Math.round(pub.ms);
    await updateRun(db.pool, runId, { timings });
    await dropShardTables(write, runId, shards);
    log.info(`run ${runId} published: ${totals.rowsWritten} rows from ${shards} shards`, {
      runId,
      rows: totals.rowsWritten,
      previous: pub.previousRunId ?? null,
    });
    await retainAfterPublish(db, write, { job, date, config, log, where });
    return result('published', pub.previousRunId);
  } catch (err) {
    const message = describeError(err);
    log.error(`finishing run ${runId} failed: ${message}`, { runId });
    // An unresolved publish may have committed: nothing is marked failed or dropped (resolve-publish.ts).
    if (!done && !isPublishUnresolved(err)) {
      if (tableCreated) await dropRunTable(write, runId).catch(() => {});
      // Bad input will not get better by retrying: the generation fails, and a new one starts on rerun.
      // Anything else leaves it in progress with every shard succeeded: rerunning any index finishes it.
      if (exitCodeOf(err) === ExitCode.badInput) {
        await markFailed(db.pool, runId, message).catch(() => {});
        await dropShardTables(write, runId, shards).catch(() => {});
      }
    }
    throw err;
  } finally {
    await write.end().catch(() => {});
    await lock.release();
  }
}
