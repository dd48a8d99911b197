// A sharded generation's rows (predict --shard): each shard COPYs into a table of its own, and only the
// shard that completes the generation merges them into the run's table (run-tables.ts), which is
// then indexed, attached and published like any run's. A shard killed mid-COPY leaves at most rows in its
// own table, which its rerun drops before writing again: a partial shard can never be merged, because
// merging happens only once every shard's ledger row says succeeded (shard-ledger.ts).
// The price is one more copy of the rows inside PostgreSQL (INSERT ... SELECT), on the database's cores.
import type { Queryable } from './queryable.ts';
import { runTable, shardTable } from './tables.ts';

/** A fresh, empty table for shard I (a leftover of a killed attempt is dropped first). */
export async function createShardTable(client: Queryable, runId: number, shard: number): Promise<string> {
  const t = shardTable(runId, shard);
  await client.query(`drop table if exists ${t}`);
  await client.query(`create table ${t} as select user_id, item_idx, scores from batchcast.predictions with no data`);
  return t;
}

/** Appends every shard's rows to the run's table (created, not yet indexed). Returns the rows merged. */
export async function mergeShardTables(client: Queryable, runId: number, shards: number): Promise<number> {
  let rows = 0;
  for (let i = 0; i < shards; i++) {
    const r = await client.query(
      `insert into ${runTable(runId)} (user_id, item_idx, scores) select user_id, item_idx, scores from ${shardTable(runId, i)}`,
    );
    rows += r.rowCount ?? 0;
  }
  return rows;
}

export async function dropShardTables(client: Queryable, runId: number, shards: number): Promise<void> {
  for (let i = 0; i < shards; i++) await client.query(`drop table if exists ${shardTable(runId, i)}`);
}

/**
 * Drops the shard tables no generation will merge: those of runs that are no longer running (failed, pruned,
 * merged and finished, or gone from the ledger). A generation that never completes (a shard that keeps
 * failing, a date rerun without shards, a date retired by retention) leaves its finished shards' tables
 * behind; prune and retention call this. Tables of a running generation stay: its missing shards may still come.
 */
export async function dropOrphanShardTables(client: Queryable): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `select format('%I.%I', n.nspname, c.relname) as t
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       left join batchcast.runs r on r.run_id = substring(c.relname from '^predictions_r([0-9]+)_s[0-9]+$')::bigint
      where n.nspname = 'batchcast' and c.relkind = 'r' and c.relname ~ '^predictions_r[0-9]+_s[0-9]+$'
        and (r.run_id is null or r.status <> 'running' or r.pruned_at is not null)
      order by c.relname`,
  );
  for (const { t } of rows) await client.query(`drop table if exists ${t}`);
  return rows.map((r) => r.t);
}
