// batchcast.runs: one row per run, written at start, updated as it goes, closed as succeeded or failed.
import os from 'node:os';
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** held: written but stopped by a gate; shadow: written to be compared, never published (sql/004). */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'held' | 'shadow';

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
  /** the run's item map (sql/006, write/item-maps.ts): its rows store item indices */
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
    [runId, u.modelVersion ?? null, u.modelSha256 ?? null, u.inputFiles ?? null, u.k ?? null, u.rowsRead ?? null,
      u.rowsWritten ?? null, u.rowsRejected ?? null, u.timings ? JSON.stringify(u.timings) : null,
      u.fallback?.itemIds ?? null, u.fallback?.scores ?? null, u.modelPath ?? null, u.itemsSha256 ?? null],
  );
}

export async function markSucceeded(db: Queryable, runId: number, timings: Record<string, number>): Promise<void> {
  await db.query(
    `update batchcast.runs set status = 'succeeded', timings = $2, finished_at = now(), error = null where run_id = $1`,
    [runId, JSON.stringify(timings)],
  );
}

/** Closes a run that was written but not published: held back by a gate, or a shadow run. */
export async function markUnpublished(db: Queryable, runId: number, status: 'held' | 'shadow', note: string | null, timings: Record<string, number>): Promise<void> {
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

export interface RunFilter { job?: string; date?: string; status?: string; limit?: number }

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
