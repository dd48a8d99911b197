// The schema's vocabulary, said once: the run statuses, and the names of the tables a run makes for
// itself. The tables themselves are created by the numbered migrations in sql/:
//   batchcast.runs           the ledger: one row per run, its status, counts, timings and model (001; later files add columns)
//   batchcast.run_shards     one row per shard of a sharded run (005)
//   batchcast.published      the pointer: (job, date) -> the run readers see (001)
//   batchcast.publish_log    every move of the pointer: publish, rollback, override (001, 004)
//   batchcast.predictions    partitioned parent of every run's own table (003); readers reach it only
//                            through the pointer (the view batchcast.recommendations)
//   batchcast.item_maps      item index -> item id, once per items file (006)
//   batchcast.rejected_rows  rows a job skipped, with the reason (001)
//   batchcast.run_profiles, run_comparisons, gate_verdicts   the guardrails' records (004)
//   batchcast.api_keys       the lookup API's keys, as SHA-256 hashes, with scopes (008; api-keys.ts)
// Only src/store/ writes SQL against the ledger and the pointer; everything else calls it.

/**
 * Every status a run can have. held: written but stopped by a gate; shadow: written to be compared, never
 * published; waiting: a scheduled date waiting for its input files (schedule.wait_for_data, sql/009).
 */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'held', 'shadow', 'waiting'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Every status one shard of a sharded run can have. */
export const SHARD_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type ShardStatus = (typeof SHARD_STATUSES)[number];

/** A run's own table: a partition of batchcast.predictions once attached. */
export function runTable(runId: number): string {
  return `batchcast.predictions_r${Math.trunc(runId)}`;
}

/** Shard I's table of a sharded run, merged into the run's table by the shard that completes it. */
export function shardTable(runId: number, shard: number): string {
  return `${runTable(runId)}_s${Math.trunc(shard)}`;
}

/** The query the CLI shows people as an example of `batchcast sql`: the newest runs of the ledger. */
export const EXAMPLE_QUERY = 'select run_id, job, prediction_date, status, rows_written from batchcast.runs order by run_id desc limit 5';
