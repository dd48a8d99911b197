// A run's own table: created before its COPY (copy-writer.ts), then indexed and attached as a partition of
// batchcast.predictions. Until the pointer moves (pointer.ts) no reader reaches it.
// Partitions are keyed by (job, prediction_date, run_id) (sql/003): a query filtering job and date is
// pruned to that date's partitions when it is planned, however many dates are kept.
import pg from 'pg';
import type { Queryable } from './queryable.ts';
import { runTable } from './tables.ts';

/**
 * Where one run's rows are read from in SQL: `select user_id, item_ids, scores from ${generationSource(id)}`
 * (it names its own alias, `g` unless given). The run's own table, not the partitioned parent: its plan does
 * not grow with the number of partitions, and it stays readable for as long as the run is not pruned,
 * attached or not (a held or shadow run too). Every SQL reader of one run's rows goes through this
 * (guardrails, archive); item_ids are item ids whatever the run's format (sql/006): a compact
 * run's indices are looked up in its item map (the run's items_sha256 is read once, as an init plan;
 * the same decode as the SQL function batchcast.item_ids of sql/006).
 * Readers that decode indices themselves use item-maps.ts (storedRowsSql, readItemMap; the lookup API cachedItemMap).
 */
export function generationSource(runId: number, alias = 'g'): string {
  const id = Math.trunc(runId);
  // The decode is written out, not a call of batchcast.item_ids(): a SQL function with a sub-select is never
  // inlined, and re-planning its body on every execution cost the lookup API most of its rate.
  return `(select t.run_id, t.user_id, t.scores,
                  coalesce(t.item_ids, array(select m.item_id from unnest(t.item_idx) with ordinality as u (idx, n)
                    left join batchcast.item_maps m on m.idx = u.idx
                     and m.items_sha256 = (select items_sha256 from batchcast.runs where run_id = ${id}) order by u.n)) as item_ids
             from ${runTable(id)} t) as ${alias}`;
}

/** (job, date) of a run from the ledger: its partition bounds and the values its rows carry. */
async function runKey(client: Queryable, runId: number): Promise<{ job: string; date: string }> {
  const { rows } = await client.query<{ job: string; date: string }>(
    'select job, prediction_date::text as date from batchcast.runs where run_id = $1',
    [runId],
  );
  if (!rows.length) throw new Error(`run ${runId} has no row in batchcast.runs; a run table is made only for a started run`);
  return rows[0];
}

/**
 * A standalone table shaped like a partition, with run_id, job and prediction_date fixed by default and by
 * CHECK (so ATTACH skips its scan). COPY sends user_id, item_idx and scores (item_ids stays null: sql/006); the defaults fill the rest.
 */
export async function createRunTable(client: pg.ClientBase, runId: number): Promise<void> {
  const id = Math.trunc(runId);
  const t = runTable(id);
  const { job, date } = await runKey(client, id);
  const [j, d] = [pg.escapeLiteral(job), pg.escapeLiteral(date)];
  // No INCLUDING INDEXES: the index is built after the load, which is faster than maintaining it row by row.
  await client.query(`create table ${t} (like batchcast.predictions including defaults including constraints)`);
  await client.query(`alter table ${t} alter column run_id set default ${id},
                      alter column job set default ${j}, alter column prediction_date set default ${d},
                      add constraint predictions_r${id}_run check (run_id = ${id}),
                      add constraint predictions_r${id}_date check (job = ${j} and prediction_date = ${d})`);
  // whoever may read predictions may read this run's table (the lookup API reads it by name)
  await client.query(`select batchcast.copy_read_grants('batchcast.predictions', $1::regclass)`, [t]);
}

/** After the load: the unique index (a duplicate user id fails here at the latest) and planner statistics. */
export async function indexRunTable(client: pg.ClientBase, runId: number): Promise<void> {
  const t = runTable(runId);
  // The default 64 MB spills a 10M-row sort to disk; see bench/README.md for the measured difference.
  await client.query(`set maintenance_work_mem = '256MB'`);
  // (user_id) alone: every row has the same run id. An index on (run_id, user_id) also matched the view's
  // join on run_id and tempted the planner into reading a whole day through it (many-dates-bench.ts).
  await client.query(`create unique index predictions_r${Math.trunc(runId)}_user on ${t} (user_id)`);
  await client.query(`analyze ${t}`);
}

/**
 * ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, which readers' ACCESS SHARE does not conflict with;
 * the CHECK constraint lets PostgreSQL skip the validation scan. lock_timeout keeps it from queueing
 * behind a prune; it is retried a few times.
 */
export async function attachRunTable(client: pg.ClientBase, runId: number, lockTimeoutMs: number): Promise<void> {
  const id = Math.trunc(runId);
  const { job, date } = await runKey(client, id);
  const [j, d] = [pg.escapeLiteral(job), pg.escapeLiteral(date)];
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query('begin');
      await client.query(`set local lock_timeout = ${Math.trunc(lockTimeoutMs)}`);
      await client.query(
        `alter table batchcast.predictions attach partition ${runTable(id)} for values from (${j}, ${d}, ${id}) to (${j}, ${d}, ${id + 1})`,
      );
      await client.query('commit');
      return;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      if ((err as { code?: string }).code !== '55P03' || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** dropRunTable refused: the pointer names the run. */
export class PublishedTableError extends Error {}

/**
 * Finishes every DETACH CONCURRENTLY that was interrupted (retention's lock_timeout behind a long reader, a lost
 * connection): while one partition is pending detach, PostgreSQL refuses every other DETACH CONCURRENTLY of
 * batchcast.predictions ('already pending detach'). The tables stay; whoever detached them drops them next.
 */
export async function finalizePendingDetaches(client: Queryable): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `select inhrelid::regclass::text as t from pg_inherits where inhparent = 'batchcast.predictions'::regclass and inhdetachpending`,
  );
  for (const { t } of rows) await client.query(`alter table batchcast.predictions detach partition ${t} finalize`);
  return rows.map((r) => r.t);
}

/**
 * Removes a run's table without blocking readers. A plain DROP of an attached partition takes ACCESS EXCLUSIVE
 * on the parent, so an attached one is first detached CONCURRENTLY (SHARE UPDATE EXCLUSIVE, waits for the
 * readers that might see it). The caller must not use a transaction: DETACH CONCURRENTLY refuses one.
 */
export async function dropRunTable(client: Queryable, runId: number): Promise<void> {
  const t = runTable(runId);
  // The one place a run's table is dropped (predict, a shard finish, prune, retention): a table the pointer
  // names is never dropped, whatever the caller believes (a publish whose reply was lost did commit).
  const named = await client.query<{ job: string; date: string }>(
    'select job, prediction_date::text as date from batchcast.published where run_id = $1 limit 1',
    [runId],
  );
  if (named.rows.length) {
    const { job, date } = named.rows[0];
    throw new PublishedTableError(
      `not dropping ${t}: run ${runId} is the published generation of job ${job}, date ${date}; ` +
        `publish another run for that date first (batchcast publish --run R) or let retention remove the date`,
    );
  }
  const { rows } = await client.query<{ attached: boolean; pending: boolean }>(
    `select true as attached, coalesce(i.inhdetachpending, false) as pending
       from pg_inherits i where i.inhrelid = to_regclass($1) and i.inhparent = 'batchcast.predictions'::regclass`,
    [t],
  );
  if (rows.length) {
    const how = rows[0].pending ? 'finalize' : 'concurrently';
    await client.query(`alter table batchcast.predictions detach partition ${t} ${how}`);
  }
  await client.query(`drop table if exists ${t}`);
}
