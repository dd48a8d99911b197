// One shard of a date: `predict --job J --date D --shard I/N` scores only the users of shard I (shard.ts)
// into one generation shared by all N shards, published once, when the last of them succeeds:
//   join the generation (runs row + shard row) -> shard lock -> check | read I | infer | COPY into its own table
//   -> mark succeeded and count, under the generation lock -> if the count is N: finish the generation
// Finishing (finish-generation.ts) merges the shard tables into the run's table, indexes, attaches, runs the
// guard over the whole generation and publishes, checking the count again in the publish transaction.
// Restarted pods: a succeeded shard is never redone (exit 0); a shard whose process is alive is refused
// (exit 3); a dead one's table is dropped and the shard redone. See docs/reliability.md, "Sharded dates".
import os from 'node:os';
import { parseDate } from '../dates.ts';
import { connectClient } from '../db/connect.ts';
import { describeError } from '../errors.ts';
import { modelInfo } from '../infer/model-info.ts';
import { loadJob } from '../jobs/load-job.ts';
import type { Shard } from '../read/shard.ts';
import { saveItemMap } from '../store/item-maps.ts';
import { updateRun } from '../store/ledger.ts';
import { migrate } from '../store/migrate.ts';
import { acquireShardLock, claimShard, failShard, finishShard, joinGeneration, shardRow, succeededShards } from '../store/shard-ledger.ts';
import { createShardTable } from '../store/shard-tables.ts';
import { shardTable } from '../store/tables.ts';
import { finishGeneration } from './finish-generation.ts';
import type { PredictOptions, PredictResult } from './predict.ts';
import { checkBadRows, scorePartition } from './score-partition.ts';

export interface ShardResult {
  runId: number;
  job: string;
  date: string;
  shard: Shard;
  /** scored now; already done by an earlier process (nothing redone) */
  outcome: 'scored' | 'already-succeeded';
  rows: number;
  /** how many of the N shards have succeeded */
  succeeded: number;
  /** set when this process published (or held) the whole generation */
  generation?: PredictResult;
}

export interface ShardOptions extends Omit<PredictOptions, 'shadow' | 'modelPath'> {
  shard: Shard;
  /**
   * Who launched the generation (BATCHCAST_GENERATION_KEY; the manifests pass the Kubernetes Job's uid): a
   * pod of that launch restarted after its generation was published finds its shard done instead of
   * starting a new generation of the date.
   */
  generationKey?: string;
}

export async function predictShard(opts: ShardOptions): Promise<ShardResult> {
  const { config, db, shard } = opts;
  const t0 = performance.now();
  const date = parseDate(opts.date);
  const job = typeof opts.job === 'string' ? loadJob(config.jobsDir, opts.job, config.root) : opts.job;
  const log = opts.log.child({ job: job.name, date, shard: `${shard.index}/${shard.count}` });
  const where = `job ${job.name}, date ${date}, shard ${shard.index}/${shard.count}`;
  await migrate(db.pool);

  const joined = await joinGeneration(db.pool, job.name, date, shard, opts.generationKey || undefined);
  const runId = joined.runId;
  const base = { runId, job: job.name, date, shard };
  const finish = (succeeded: number) => finishGeneration({ db, config, job, date, runId, shards: shard.count, log, succeeded, t0 });
  if (joined.row.status === 'succeeded') return alreadyDone();

  const lock = await acquireShardLock(db.url, config, runId, shard, where);
  const timings: Record<string, number> = {};
  let tableCreated = false;
  const writes = await Promise.all(
    Array.from({ length: config.copyConnections }, () =>
      connectClient(db.url, config, {
        applicationName: `batchcast write ${job.name} ${date} ${shard.index}/${shard.count}`.slice(0, 63),
        statementTimeoutMs: 0,
        queryTimeoutMs: config.writeQueryTimeoutMs,
        onError: () => {},
      }),
    ),
  ).catch(async (err) => {
    await lock.release();
    throw err;
  });
  try {
    // Under the shard lock: the row may have succeeded meanwhile (a twin pod finished between join and lock).
    const row = await shardRow(db.pool, runId, shard.index);
    if (row?.status === 'succeeded') return await alreadyDone();
    // Not the row this process just inserted: an earlier attempt failed or died (its lock is gone, so it is not alive).
    const redo = row!.status === 'failed' || row!.host !== os.hostname() || row!.pid !== process.pid;
    await claimShard(db.pool, runId, shard.index, redo);
    log.info(
      `${joined.created ? 'started' : 'joined'} run ${runId} (a generation of ${shard.count} shards)${redo ? `; redoing shard ${shard.index} after a failed or dead attempt` : ''}`,
      { runId },
    );

    const model = await modelInfo(job);
    await updateRun(db.pool, runId, { modelVersion: model.version, modelSha256: model.sha256, k: job.k });
    const scored = await scorePartition({
      job,
      date,
      config,
      runId,
      model,
      writes,
      log,
      shard,
      signal: opts.signal,
      onProgress: opts.onProgress,
      timings,
      onFiles: (files) => updateRun(db.pool, runId, { inputFiles: files }),
      onItems: async (ids) => updateRun(db.pool, runId, { itemsSha256: await saveItemMap(db.pool, ids) }),
      createTable: async () => {
        tableCreated = true;
        return createShardTable(writes[0], runId, shard.index);
      },
    });
    const { piped } = scored;
    checkBadRows(job, where, piped, piped.rowsRead);
    const { succeeded } = await finishShard(db.pool, job.name, date, runId, shard, {
      rowsRead: piped.rowsRead,
      rowsWritten: piped.rowsWritten,
      rowsRejected: piped.rowsRejected,
      rejected: piped.rejected,
      itemCounts: scored.counts,
    });
    log.info(
      `shard ${shard.index}/${shard.count} of run ${runId} succeeded: ${piped.rowsWritten} users; ${succeeded}/${shard.count} shards done`,
      { runId, rows: piped.rowsWritten },
    );
    await lock.release();
    const generation = succeeded === shard.count ? await finish(succeeded) : undefined;
    if (!generation) log.info(`run ${runId}: waiting for ${shard.count - succeeded} more shard(s); the last one publishes`, { runId });
    return { ...base, outcome: 'scored', rows: piped.rowsWritten, succeeded, generation };
  } catch (err) {
    const message = describeError(err);
    log.error(`shard ${shard.index}/${shard.count} of run ${runId} failed: ${message}`, { runId });
    await failShard(db.pool, runId, shard.index, message).catch((e) => log.error(`could not mark the shard failed: ${describeError(e)}`));
    if (tableCreated && (await shardRow(db.pool, runId, shard.index).catch(() => undefined))?.status !== 'succeeded') {
      await db.pool.query(`drop table if exists ${shardTable(runId, shard.index)}`).catch(() => {});
    }
    throw err;
  } finally {
    for (const w of writes) await w.end().catch(() => {});
    await lock.release();
  }

  /** A twin pod, or a rerun after success: nothing is redone; an unfinished generation is finished. */
  async function alreadyDone(): Promise<ShardResult> {
    const row = (await shardRow(db.pool, runId, shard.index))!;
    log.info(
      `shard ${shard.index}/${shard.count} of run ${runId} already succeeded (${row.rows_written} users, host ${row.host}, pid ${row.pid}); not redoing it`,
      { runId },
    );
    const succeeded = await succeededShards(db.pool, runId);
    let generation: PredictResult | undefined;
    if (succeeded === shard.count) {
      // Every shard is done: finish the generation unless that is done already (its finisher may have died).
      // If the run lock is busy (its finisher is at work, or an unsharded run of the date) this exits 3: a retry
      // then finds the generation published (exit 0), or finishes it.
      generation = await finish(succeeded);
    }
    return { ...base, outcome: 'already-succeeded', rows: Number(row.rows_written), succeeded, generation };
  }
}
