// batchcast.runs: one row per run, written at start, updated as it goes, closed as succeeded or failed;
// and the statements that read it for people (runs, report), the guardrails and retention.
import os from 'node:os';
import type { Db } from '../db/connect.ts';
import { RUN_LOCK_HELD, shardLockHeld } from './locks.ts';
import { migrate } from './migrate.ts';
import type { Queryable } from './queryable.ts';
import type { RunStatus } from './tables.ts';

export interface RunRow {
  run_id: number;
  job: string;
  prediction_date: string;
  status: RunStatus;
  model_version: string | null;
  model_sha256: string | null;
  input_files: string[];
  k: number | null;
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  timings: Record<string, number>;
  error: string | null;
  host: string | null;
  pid: number | null;
  started_at: Date;
  finished_at: Date | null;
  pruned_at: Date | null;
  /** where retention by date archived this run before dropping its table */
  archived_to: string | null;
  /** the model file a shadow run scored with, when it was not the job's own */
  model_path: string | null;
  /** N for a generation scored in N shards (predict --shard), else null */
  shards: number | null;
  /** how many of its shards have succeeded (null when not sharded) */
  shards_done?: number | null;
}

export async function startRun(db: Queryable, job: string, date: string): Promise<number> {
  const { rows } = await db.query<{ run_id: number }>(
    'insert into batchcast.runs (job, prediction_date, host, pid) values ($1, $2, $3, $4) returning run_id',
    [job, date, os.hostname(), process.pid],
  );
  return rows[0].run_id;
}

export interface RunUpdate {
  modelVersion?: string;
  modelSha256?: string;
  inputFiles?: string[];
  k?: number;
  rowsRead?: number;
  rowsWritten?: number;
  rowsRejected?: number;
  timings?: Record<string, number>;
  fallback?: { itemIds: string[]; scores: number[] };
  modelPath?: string;
  /** the run's item map (sql/006, item-maps.ts): its rows store item indices */
  itemsSha256?: string;
}

export async function updateRun(db: Queryable, runId: number, u: RunUpdate): Promise<void> {
  await db.query(
    `update batchcast.runs set
        model_version = coalesce($2, model_version),
        model_sha256 = coalesce($3, model_sha256),
        input_files = coalesce($4, input_files),
        k = coalesce($5, k),
        rows_read = coalesce($6, rows_read),
        rows_written = coalesce($7, rows_written),
        rows_rejected = coalesce($8, rows_rejected),
        timings = coalesce($9, timings),
        fallback_item_ids = coalesce($10, fallback_item_ids),
        fallback_scores = coalesce($11, fallback_scores),
        model_path = coalesce($12, model_path),
        items_sha256 = coalesce($13, items_sha256)
      where run_id = $1`,
    [
      runId,
      u.modelVersion ?? null,
      u.modelSha256 ?? null,
      u.inputFiles ?? null,
      u.k ?? null,
      u.rowsRead ?? null,
      u.rowsWritten ?? null,
      u.rowsRejected ?? null,
      u.timings ? JSON.stringify(u.timings) : null,
      u.fallback?.itemIds ?? null,
      u.fallback?.scores ?? null,
      u.modelPath ?? null,
      u.itemsSha256 ?? null,
    ],
  );
}

export async function markSucceeded(db: Queryable, runId: number, timings: Record<string, number>): Promise<void> {
  await db.query(`update batchcast.runs set status = 'succeeded', timings = $2, finished_at = now(), error = null where run_id = $1`, [
    runId,
    JSON.stringify(timings),
  ]);
}

/** Closes a run that was written but not published: held back by a gate, or a shadow run. */
export async function markUnpublished(
  db: Queryable,
  runId: number,
  status: 'held' | 'shadow',
  note: string | null,
  timings: Record<string, number>,
): Promise<void> {
  await db.query(
    `update batchcast.runs set status = $2, error = $3, timings = $4, finished_at = now() where run_id = $1 and status = 'running'`,
    [runId, status, note?.slice(0, 4000) ?? null, JSON.stringify(timings)],
  );
}

export async function markFailed(db: Queryable, runId: number, error: string, timings?: Record<string, number>): Promise<void> {
  await db.query(
    `update batchcast.runs set status = 'failed', error = $2, timings = coalesce($3, timings), finished_at = now()
      where run_id = $1 and status = 'running'`,
    [runId, error.slice(0, 4000), timings ? JSON.stringify(timings) : null],
  );
}

/**
 * Runs of (job, date) still marked running while we hold the (job, date) lock belong to processes that
 * died (SIGKILL, OOM, power). They are marked failed; the caller drops their tables. A sharded generation in
 * progress is not one of them: its shards hold the run lock only to finish it (predict-shard.ts).
 */
export async function failAbandonedRuns(db: Queryable, job: string, date: string, exceptRunId: number): Promise<number[]> {
  const { rows } = await db.query<{ run_id: number }>(
    `update batchcast.runs set status = 'failed', finished_at = now(),
            error = 'abandoned: its process died before finishing (found by run ' || $3::bigint || ')'
      where job = $1 and prediction_date = $2 and status = 'running' and run_id <> $3 and shards is null
      returning run_id`,
    [job, date, exceptRunId],
  );
  return rows.map((r) => r.run_id);
}

export interface RunFilter {
  job?: string;
  date?: string;
  status?: string;
  limit?: number;
}

export async function listRuns(db: Queryable, f: RunFilter = {}): Promise<(RunRow & { published: boolean })[]> {
  const { rows } = await db.query<RunRow & { published: boolean }>(
    `select r.*, (p.run_id is not null) as published,
            (select count(*)::int from batchcast.run_shards s where s.run_id = r.run_id and s.status = 'succeeded' and r.shards is not null) as shards_done
       from batchcast.runs r
       left join batchcast.published p on p.run_id = r.run_id
      where ($1::text is null or r.job = $1) and ($2::date is null or r.prediction_date = $2)
        and ($3::text is null or r.status = $3)
      order by r.run_id desc limit $4`,
    [f.job ?? null, f.date ?? null, f.status ?? null, f.limit ?? 100],
  );
  return rows;
}

export async function getRun(db: Queryable, runId: number): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>('select * from batchcast.runs where run_id = $1', [runId]);
  return rows[0];
}

export type LedgerRow = RunRow & { published: boolean };

/** `batchcast runs`: the ledger, newest first, on a schema brought up to date first. */
export async function showRuns(db: Db, filter: RunFilter): Promise<LedgerRow[]> {
  await migrate(db.pool);
  return listRuns(db.pool, filter);
}

/** The newest run of (job, date), whatever its status. */
export async function newestRunId(db: Queryable, job: string, date: string): Promise<number | undefined> {
  const { rows } = await db.query<{ run_id: number | null }>(
    'select max(run_id) as run_id from batchcast.runs where job = $1 and prediction_date = $2',
    [job, date],
  );
  return rows[0].run_id ?? undefined;
}

/** The item maps (items_sha256) of two runs; null for a run that stores item ids as text. */
export async function itemMapKeys(db: Queryable, runId: number, otherRunId: number): Promise<[string | null, string | null]> {
  const { rows } = await db.query<{ a: string | null; b: string | null }>(
    `select (select items_sha256 from batchcast.runs where run_id = $1) as a, (select items_sha256 from batchcast.runs where run_id = $2) as b`,
    [runId, otherRunId],
  );
  return [rows[0].a, rows[0].b];
}

/** A held or shadow run published on a person's word: once served, the date counts as succeeded. */
export async function markOverridden(db: Queryable, runId: number): Promise<void> {
  await db.query(`update batchcast.runs set status = 'succeeded', error = null where run_id = $1`, [runId]);
}

export interface PrunableRun {
  run_id: number;
  job: string;
  prediction_date: string;
}

/**
 * Runs whose tables prune may drop: per (job, date), all but the published generation and the newest others
 * up to `keep` in all, and every failed run. A run still marked running is left alone while a process holds
 * its (job, date) lock, and a sharded generation in progress too (its shards score without that lock),
 * unless it is abandoned: a later run of its date is published and none of its shards is scoring (no shard
 * lock held). Its missing shards would only publish over a newer generation; markPruned marks it failed.
 */
export async function prunableRuns(db: Queryable, f: { job?: string; date?: string; keep: number }): Promise<PrunableRun[]> {
  const { rows } = await db.query<PrunableRun>(
    `with ranked as (
       select r.run_id, r.status, r.shards, r.job, r.prediction_date, (p.run_id is not null) as published,
              (r.status = 'running' and r.shards is not null
               and exists (select 1 from batchcast.published later
                            where later.job = r.job and later.prediction_date = r.prediction_date and later.run_id > r.run_id)
               and not exists (select 1 from pg_locks l where ${shardLockHeld('r.run_id')})) as abandoned,
              row_number() over (partition by r.job, r.prediction_date
                                 order by (p.run_id is not null) desc, (r.status = 'succeeded') desc, r.run_id desc) as n
         from batchcast.runs r
         left join batchcast.published p on p.run_id = r.run_id
        where r.pruned_at is null and r.status <> 'waiting'
          and ($1::text is null or r.job = $1) and ($2::date is null or r.prediction_date = $2))
     select run_id, job, prediction_date from ranked
      where not published
        and (n > $3 or status = 'failed' or abandoned)
        and (abandoned or not (status = 'running' and shards is not null))
        and (status <> 'running' or abandoned or not exists (
              select 1 from pg_locks l
               where ${RUN_LOCK_HELD}))
      order by job, prediction_date, run_id`,
    [f.job ?? null, f.date ?? null, f.keep],
  );
  return rows;
}

/**
 * Marks a run's table dropped (its ledger row stays). Called under the date's run lock, so a run still
 * marked running has no process any more: it is marked failed, abandoned, found by `by`.
 */
export async function markPruned(db: Queryable, runId: number, by: 'prune' | 'retention', archivedTo: string | null = null): Promise<void> {
  await db.query(
    `update batchcast.runs set pruned_at = now(), archived_to = $2,
            status = case when status = 'running' then 'failed' else status end,
            error = case when status = 'running' and shards is not null
                         then 'abandoned: a sharded generation whose missing shards never came (found by ' || $3 || ')'
                         when status = 'running' then 'abandoned: its process died before finishing (found by ' || $3 || ')'
                         else error end
      where run_id = $1`,
    [runId, archivedTo, by],
  );
}

/** Runs of (job, date) whose tables have not been dropped, oldest first. */
export async function unprunedRunIds(db: Queryable, job: string, date: string): Promise<number[]> {
  const { rows } = await db.query<{ run_id: number }>(
    'select run_id from batchcast.runs where job = $1 and prediction_date = $2 and pruned_at is null order by run_id',
    [job, date],
  );
  return rows.map((r) => r.run_id);
}

/** Dates of the job before `before` that still have a pointer or a run table: what retention by date removes. */
export async function datesToRetire(db: Queryable, job: string, before: string): Promise<string[]> {
  const { rows } = await db.query<{ date: string }>(
    `select prediction_date::text as date from batchcast.runs where job = $1 and prediction_date < $2 and pruned_at is null
     union
     select prediction_date::text from batchcast.published where job = $1 and prediction_date < $2
     order by 1`,
    [job, before],
  );
  return rows.map((r) => r.date);
}
