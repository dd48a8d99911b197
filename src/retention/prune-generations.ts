// Retention: per (job, date), keep the published generation and the newest others up to `keep` in all;
// drop the tables of the rest (failed, abandoned, superseded). Ledger rows stay, marked pruned_at.
// Tables are detached CONCURRENTLY (see dropRunTable), so readers are never blocked.
import type { Db } from '../db/connect.ts';
import { markPruned, prunableRuns } from '../store/ledger.ts';
import { releaseRunLock, tryRunLock } from '../store/locks.ts';
import { isPublished } from '../store/pointer.ts';
import type { Queryable } from '../store/queryable.ts';
import { dropRunTable, finalizePendingDetaches } from '../store/run-tables.ts';
import { dropOrphanShardTables } from '../store/shard-tables.ts';
import { isLockTimeout, withLockTimeout } from './with-lock-timeout.ts';

export interface PruneRequest {
  job?: string;
  date?: string;
  /** generations to keep per (job, date), the published one included */
  keep: number;
  /**
   * Take each (job, date)'s run lock while pruning it, so a concurrent rollback (publish --run) cannot
   * point at a table being dropped. `client` must then be a dedicated connection. predict passes false:
   * it already holds the lock of the one date it prunes.
   */
  lockDates?: boolean;
  /** lock_timeout of each DETACH and DROP (config retentionLockTimeoutMs): a run behind a long reader is left for the next prune */
  lockTimeoutMs?: number;
}

export interface PruneResult {
  dropped: number[];
  skippedBusy: string[];
}

export async function pruneGenerations(db: Db, client: Queryable, req: PruneRequest): Promise<PruneResult> {
  // 'running' runs are left alone unless no process holds their (job, date) lock any more. A sharded generation
  // in progress never holds it while its shards score (predict-shard.ts): it is always left alone.
  const rows = await prunableRuns(db.pool, req);
  const groups = new Map<string, typeof rows>();
  for (const r of rows) {
    const key = `${r.job} ${r.prediction_date}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const dropped: number[] = [];
  const skippedBusy: string[] = [];
  for (const [key, runs] of groups) {
    const { job, prediction_date: date } = runs[0];
    if (req.lockDates) {
      if (!(await tryRunLock(client, job, date))) {
        skippedBusy.push(key);
        continue;
      }
    }
    try {
      for (const { run_id } of runs) {
        // Under the lock nothing can publish this date; the check catches a publish between the query and the lock.
        if (await isPublished(db.pool, run_id)) continue;
        const drop = async () => {
          await finalizePendingDetaches(client);
          await dropRunTable(client, run_id);
        };
        await (req.lockTimeoutMs === undefined ? drop() : withLockTimeout(client, req.lockTimeoutMs, drop));
        await markPruned(db.pool, run_id, 'prune');
        dropped.push(run_id);
      }
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
      skippedBusy.push(key); // a reader outlasted lockTimeoutMs: the next prune takes the rest of this date
    } finally {
      if (req.lockDates) await releaseRunLock(client, job, date);
    }
  }
  await dropOrphanShardTables(client);
  return { dropped, skippedBusy };
}
