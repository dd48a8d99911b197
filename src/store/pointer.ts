// The pointer, batchcast.published: which run each (job, date) serves. Moving it is step 4 of a run: one
// short transaction upserts (job, date) -> run_id; readers that started before it keep their snapshot (old
// generation), readers after it see the new one, and nobody sees a mix, because the view reaches rows only
// through this pointer. Nothing is deleted or renamed. The same transaction sends NOTIFY on
// PUBLISH_CHANNEL: PostgreSQL delivers it at commit, and only if the transaction commits, so every `serve`
// process learns of the move the moment readers can see it. Below publishRun, the statements that read the
// pointer (what is published, the reference a run is compared with) and retention's removal of a date.
import type pg from 'pg';
import type { Queryable } from './queryable.ts';

/** The channel `batchcast serve` LISTENs on (src/serve/generations/publish-listener.ts). */
export const PUBLISH_CHANNEL = 'batchcast_publish';

/** The NOTIFY payload, JSON: small and fixed-size (pg_notify allows 8000 bytes). */
export interface PublishNotice {
  job: string;
  date: string;
  run_id: number;
  previous_run_id: number | null;
  action: PublishRequest['action'];
}

export interface PublishRequest {
  job: string;
  date: string;
  runId: number;
  action: 'publish' | 'rollback' | 'override';
  /** why a person published a held or shadow run (action 'override') */
  reason?: string;
  lockTimeoutMs: number;
}

export interface Published {
  previousRunId: number | undefined;
  ms: number;
}

/**
 * Publishes inside the caller's connection, in its own transaction. `inTx` runs in the same transaction
 * (the run marks itself succeeded there), so the pointer and the ledger move together.
 */
export async function publishRun(
  client: pg.ClientBase,
  req: PublishRequest,
  inTx: (client: pg.ClientBase) => Promise<void> = async () => {},
): Promise<Published> {
  const t0 = performance.now();
  try {
    await client.query('begin');
    await client.query(`set local lock_timeout = ${Math.trunc(req.lockTimeoutMs)}`);
    const prev = await client.query<{ run_id: number }>(
      'select run_id from batchcast.published where job = $1 and prediction_date = $2 for update',
      [req.job, req.date],
    );
    await inTx(client);
    await client.query(
      `insert into batchcast.published (job, prediction_date, run_id, published_at) values ($1, $2, $3, now())
       on conflict (job, prediction_date) do update set run_id = excluded.run_id, published_at = excluded.published_at`,
      [req.job, req.date, req.runId],
    );
    const previousRunId = prev.rows[0]?.run_id;
    await client.query(
      'insert into batchcast.publish_log (job, prediction_date, run_id, previous_run_id, action, reason) values ($1, $2, $3, $4, $5, $6)',
      [req.job, req.date, req.runId, previousRunId ?? null, req.action, req.reason ?? null],
    );
    const notice: PublishNotice = {
      job: req.job,
      date: req.date,
      run_id: req.runId,
      previous_run_id: previousRunId ?? null,
      action: req.action,
    };
    await client.query('select pg_notify($1, $2)', [PUBLISH_CHANNEL, JSON.stringify(notice)]);
    await client.query('commit');
    return { previousRunId, ms: performance.now() - t0 };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

/** The published generation a run is compared with, and its date. */
export interface Reference {
  runId: number;
  date: string;
}

/**
 * The generation a run of (job, date) would replace: the one published for that date (a rerun), else the
 * job's latest published date before it. Null on a first run.
 */
export async function findReference(db: Queryable, job: string, date: string): Promise<Reference | null> {
  const { rows } = await db.query<{ run_id: string; date: string }>(
    `select run_id, prediction_date::text as date from batchcast.published
      where job = $1 and prediction_date <= $2 order by prediction_date desc limit 1`,
    [job, date],
  );
  return rows[0] ? { runId: Number(rows[0].run_id), date: rows[0].date } : null;
}

/** Latest published generation per job: for /readyz and the served-generation gauge. */
export async function publishedGenerations(client: Queryable): Promise<Map<string, { date: string; runId: number }>> {
  const { rows } = await client.query<{ job: string; prediction_date: string; run_id: number }>(
    `select distinct on (job) job, prediction_date::text as prediction_date, run_id
       from batchcast.published order by job, prediction_date desc`,
  );
  return new Map(rows.map((r) => [r.job, { date: r.prediction_date, runId: r.run_id }]));
}

/** What `serve` follows: each job's latest published generation, and where in the WAL the read was made. */
export interface Pointers {
  latest: Map<string, { date: string; runId: number }>;
  /** The primary's WAL position when read: a replica that has replayed up to it holds every run named. Null on a standby. */
  lsn: string | null;
}

/**
 * The pointers, read on the primary by `serve` after a notice (a notice itself is only a hint: anyone may
 * NOTIFY). The WAL position is taken in the same statement, after its snapshot, so it covers every publish
 * the snapshot sees.
 */
export async function readPointers(client: Queryable): Promise<Pointers> {
  const { rows } = await client.query<{ job: string | null; prediction_date: string; run_id: number; lsn: string | null }>(
    `select p.job, p.prediction_date, p.run_id, w.lsn
       from (select case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn) w
       left join lateral (select distinct on (job) job, prediction_date::text as prediction_date, run_id
                            from batchcast.published order by job, prediction_date desc) p on true`,
  );
  const latest = new Map<string, { date: string; runId: number }>();
  for (const r of rows) if (r.job !== null) latest.set(r.job, { date: r.prediction_date, runId: r.run_id });
  return { latest, lsn: rows[0]?.lsn ?? null };
}

/**
 * Waits until this server has replayed the primary's WAL up to `lsn` (at once on a primary), polling every
 * 5 ms: a replica a few ms behind would otherwise not have the run yet. Throws after `timeoutMs`.
 */
export async function waitForReplay(client: Queryable, lsn: string | null, timeoutMs: number): Promise<void> {
  if (lsn === null) return;
  const t0 = performance.now();
  for (;;) {
    const { rows } = await client.query<{ ok: boolean; at: string | null }>(
      'select not pg_is_in_recovery() or pg_last_wal_replay_lsn() >= $1::pg_lsn as ok, pg_last_wal_replay_lsn()::text as at',
      [lsn],
    );
    if (rows[0].ok) return;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(
        `the replica has replayed the WAL to ${rows[0].at} and not yet to ${lsn}, the primary's position when the pointer was read, after ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The run published for (job, date), if any. */
export async function publishedRunId(db: Queryable, job: string, date: string): Promise<number | undefined> {
  const { rows } = await db.query<{ run_id: number }>('select run_id from batchcast.published where job = $1 and prediction_date = $2', [
    job,
    date,
  ]);
  return rows[0]?.run_id;
}

/** The newest publish_log entry that published `runId`: what it replaced. */
export async function publishOf(db: Queryable, runId: number): Promise<{ previousRunId: number | undefined } | undefined> {
  const { rows } = await db.query<{ previous_run_id: number | null }>(
    'select previous_run_id from batchcast.publish_log where run_id = $1 order by id desc limit 1',
    [runId],
  );
  return rows[0] && { previousRunId: rows[0].previous_run_id ?? undefined };
}

/** The run published for (job, date) with its model version, if any. */
export async function publishedRun(
  db: Queryable,
  job: string,
  date: string,
): Promise<{ runId: number; modelVersion: string | null } | undefined> {
  const { rows } = await db.query<{ run_id: number; model_version: string | null }>(
    `select p.run_id, r.model_version from batchcast.published p join batchcast.runs r on r.run_id = p.run_id
      where p.job = $1 and p.prediction_date = $2`,
    [job, date],
  );
  return rows[0] && { runId: rows[0].run_id, modelVersion: rows[0].model_version };
}

/** The job's newest published generation, with the sha256 of the model that wrote it. */
export async function latestPublished(
  db: Queryable,
  job: string,
): Promise<{ runId: number; date: string; modelSha256: string | null } | undefined> {
  const { rows } = await db.query<{ run_id: number; prediction_date: string; model_sha256: string | null }>(
    `select p.run_id, p.prediction_date::text as prediction_date, r.model_sha256
       from batchcast.published p join batchcast.runs r on r.run_id = p.run_id
      where p.job = $1 order by p.prediction_date desc limit 1`,
    [job],
  );
  return rows[0] && { runId: rows[0].run_id, date: rows[0].prediction_date, modelSha256: rows[0].model_sha256 };
}

export async function isPublished(db: Queryable, runId: number): Promise<boolean> {
  const { rows } = await db.query('select 1 from batchcast.published where run_id = $1', [runId]);
  return rows.length > 0;
}

/** Every job with a published date. */
export async function publishedJobs(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ job: string }>('select distinct job from batchcast.published order by job');
  return rows.map((r) => r.job);
}

/** The published dates retention by date keeps: from (newest - days) to newest. Nothing when none is published. */
export async function keptWindow(
  db: Queryable,
  job: string,
  days: number,
): Promise<{ newest: string | null; keepFrom: string | null; kept: number }> {
  const { rows } = await db.query<{ newest: string | null; keep_from: string | null; kept: number }>(
    `with m as (select max(prediction_date) as newest from batchcast.published where job = $1)
     select m.newest::text as newest, (m.newest - $2::int)::text as keep_from,
            (select count(*)::int from batchcast.published p where p.job = $1 and p.prediction_date >= m.newest - $2::int) as kept
       from m`,
    [job, days],
  );
  return { newest: rows[0].newest, keepFrom: rows[0].keep_from, kept: rows[0].kept };
}

/** Retention by date: the date is no longer served. */
export async function unpublishDate(db: Queryable, job: string, date: string): Promise<void> {
  await db.query('delete from batchcast.published where job = $1 and prediction_date = $2', [job, date]);
}
