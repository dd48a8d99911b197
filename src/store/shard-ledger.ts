// The ledger of a sharded generation (sql/005): batchcast.runs has one row with shards = N, and
// batchcast.run_shards one row per shard. Every change that decides who does what happens in a short
// transaction under the generation's advisory lock (a transaction lock: released at commit, even if the
// process dies), so two shards never both think they were last, and two pods of one index never both score.
import os from 'node:os';
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { BadInputError, LockBusyError } from '../errors.ts';
import { GENERATION_LOCK_KEY, lockOnOwnConnection, SHARD_LOCK_KEY } from './locks.ts';
import type { Queryable } from './queryable.ts';
import { type RejectedRow, saveRejectedRows } from './rejected-rows.ts';
import type { ShardStatus } from './tables.ts';

/** Shard `index` of `count` (0 <= index < count): src/read/shard.ts says which users it holds. */
export interface ShardOf {
  index: number;
  count: number;
}

export interface ShardRow {
  run_id: number;
  shard: number;
  shards: number;
  status: ShardStatus;
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  host: string | null;
  pid: number | null;
  attempts: number;
  error: string | null;
}

async function inTransaction<T>(pool: pg.Pool, job: string, date: string, body: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('begin');
    await c.query(`select pg_advisory_xact_lock(${GENERATION_LOCK_KEY})`, [job, date]);
    const out = await body(c);
    await c.query('commit');
    return out;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/**
 * Joins the in-progress sharded generation of (job, date), creating it (its runs row) when there is none,
 * and this shard's row when it has none. A generation with another shard count is refused (exit 2).
 */
export async function joinGeneration(
  pool: pg.Pool,
  job: string,
  date: string,
  shard: ShardOf,
  key?: string,
): Promise<{ runId: number; created: boolean; row: ShardRow }> {
  return inTransaction(pool, job, date, async (c) => {
    const found = await c.query<{ run_id: number; shards: number }>(
      `select run_id, shards from batchcast.runs where job = $1 and prediction_date = $2 and shards is not null and status = 'running'`,
      [job, date],
    );
    let runId = found.rows[0]?.run_id;
    if (found.rows.length && found.rows[0].shards !== shard.count) {
      const n = found.rows[0].shards;
      throw new BadInputError(
        `job ${job}, date ${date}, --shard ${shard.index}/${shard.count}: run ${runId} is a generation of ${n} shards still in progress, ` +
          `not ${shard.count}; run its missing shards with --shard I/${n} (see batchcast runs --job ${job} --date ${date}), or fix the Job's completions to ${n}`,
      );
    }
    if (runId === undefined && key) {
      // None in progress: did this launcher's generation already finish with this shard done? Then that is the answer.
      const done = await c.query<{ run_id: number }>(
        `select r.run_id from batchcast.runs r join batchcast.run_shards s on s.run_id = r.run_id and s.shard = $3 and s.status = 'succeeded'
          where r.job = $1 and r.prediction_date = $2 and r.generation_key = $4 and r.shards = $5 order by r.run_id desc limit 1`,
        [job, date, shard.index, key, shard.count],
      );
      if (done.rows.length)
        return { runId: done.rows[0].run_id, created: false, row: (await shardRow(c, done.rows[0].run_id, shard.index))! };
    }
    const created = runId === undefined;
    if (created) {
      const ins = await c.query<{ run_id: number }>(
        'insert into batchcast.runs (job, prediction_date, host, pid, shards, generation_key) values ($1, $2, $3, $4, $5, $6) returning run_id',
        [job, date, os.hostname(), process.pid, shard.count, key ?? null],
      );
      runId = ins.rows[0].run_id;
    }
    await c.query(
      `insert into batchcast.run_shards (run_id, shard, shards, host, pid) values ($1, $2, $3, $4, $5) on conflict (run_id, shard) do nothing`,
      [runId, shard.index, shard.count, os.hostname(), process.pid],
    );
    return { runId: runId!, created, row: (await shardRow(c, runId!, shard.index))! };
  });
}

export async function shardRow(db: Queryable, runId: number, shard: number): Promise<ShardRow | undefined> {
  const { rows } = await db.query<ShardRow>('select * from batchcast.run_shards where run_id = $1 and shard = $2', [runId, shard]);
  return rows[0];
}

/** This process now does shard I (it holds the shard lock): a redo counts as one more attempt. */
export async function claimShard(db: Queryable, runId: number, shard: number, redo: boolean): Promise<void> {
  await db.query(
    `update batchcast.run_shards set status = 'running', host = $3, pid = $4, started_at = now(), finished_at = null, error = null,
            rows_read = 0, rows_written = 0, rows_rejected = 0, attempts = attempts + $5
      where run_id = $1 and shard = $2 and status <> 'succeeded'`,
    [runId, shard, os.hostname(), process.pid, redo ? 1 : 0],
  );
}

export interface ShardCounts {
  rowsRead: number;
  rowsWritten: number;
  rowsRejected: number;
  rejected: RejectedRow[];
  itemCounts: ArrayLike<number>;
}

/**
 * Marks shard I succeeded (with its dead-letter rows, in the same transaction) and counts the generation's
 * succeeded shards under the generation lock: exactly one shard sees the count reach N.
 */
export async function finishShard(
  pool: pg.Pool,
  job: string,
  date: string,
  runId: number,
  shard: ShardOf,
  c: ShardCounts,
): Promise<{ succeeded: number }> {
  return inTransaction(pool, job, date, async (tx) => {
    if (c.rejected.length) await saveRejectedRows(tx, runId, c.rejected);
    await tx.query(
      `update batchcast.run_shards set status = 'succeeded', finished_at = now(), rows_read = $3, rows_written = $4, rows_rejected = $5,
              item_counts = $6 where run_id = $1 and shard = $2`,
      [runId, shard.index, c.rowsRead, c.rowsWritten, c.rowsRejected, Array.from(c.itemCounts)],
    );
    return { succeeded: await succeededShards(tx, runId) };
  });
}

export async function succeededShards(db: Queryable, runId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from batchcast.run_shards where run_id = $1 and status = 'succeeded'`,
    [runId],
  );
  return rows[0].n;
}

export async function failShard(db: Queryable, runId: number, shard: number, error: string): Promise<void> {
  await db.query(
    `update batchcast.run_shards set status = 'failed', error = $3, finished_at = now() where run_id = $1 and shard = $2 and status = 'running'`,
    [runId, shard, error.slice(0, 4000)],
  );
}

/** Sums over the shards, for the generation's runs row and output profile (item counts merged by adding). */
export async function shardTotals(
  db: Queryable,
  runId: number,
  items: number,
): Promise<{ rowsRead: number; rowsWritten: number; rowsRejected: number; itemCounts: Float64Array }> {
  const { rows } = await db.query<{ rows_read: string; rows_written: string; rows_rejected: string; item_counts: string[] | null }>(
    'select rows_read, rows_written, rows_rejected, item_counts from batchcast.run_shards where run_id = $1',
    [runId],
  );
  const t = { rowsRead: 0, rowsWritten: 0, rowsRejected: 0, itemCounts: new Float64Array(items) };
  for (const r of rows) {
    t.rowsRead += Number(r.rows_read);
    t.rowsWritten += Number(r.rows_written);
    t.rowsRejected += Number(r.rows_rejected);
    (r.item_counts ?? []).forEach((v, i) => {
      if (i < items) t.itemCounts[i] += Number(v);
    });
  }
  return t;
}

export interface ShardLock {
  release(): Promise<void>;
}

/**
 * One process per shard of a run: a session advisory lock on its own connection, held while it scores.
 * If that process dies, the server drops the lock, and a rerun of the index may redo the shard.
 */
export async function acquireShardLock(
  url: string,
  config: Pick<Config, 'connectTimeoutMs'>,
  runId: number,
  shard: ShardOf,
  where: string,
): Promise<ShardLock> {
  const client = (await lockOnOwnConnection(url, config, {
    applicationName: `batchcast shard ${shard.index}/${shard.count} run ${runId}`,
    key: SHARD_LOCK_KEY,
    params: [runId, shard.index],
    async busy(c) {
      const row = await shardRow(c, runId, shard.index);
      const who = row?.host ? ` (host ${row.host}, pid ${row.pid})` : '';
      return new LockBusyError(
        `${where}: shard ${shard.index}/${shard.count} of run ${runId} is being scored by another process${who}; this one did nothing. Retry after it finishes`,
      );
    },
  }))!;
  let released = false;
  return {
    release: async () => {
      if (!released) {
        released = true;
        await client.end().catch(() => {});
      }
    },
  };
}
