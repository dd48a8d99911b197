// One generation as the API serves it, and reading it out of PostgreSQL for the API's in-memory copy. The rows are
// read by ONE statement in ONE function (generationRows, through item-maps.ts), so a change of how predictions are stored
// (partitioning, a date column) is adapted here and nowhere else.
// COPY ... TO STDOUT (FORMAT binary), not a cursor: the server sends the rows as one stream that node
// reads with backpressure (memory stays at a few 64 KB chunks), scores arrive as raw float4 bits (no
// text to parse, exactly the stored value), and item ids arrive as bytes that are interned without
// making a string per item. 1M users x 10 items load in ~1.5 s (bench/README-lookup.md).
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { readItemMap, storedRowsSql } from './item-maps.ts';
import type { Queryable } from './queryable.ts';

export interface Generation {
  runId: number;
  predictionDate: string;
  modelVersion: string;
  /** When the run finished, ISO 8601 UTC. */
  generatedAt: string;
  /** K stored for this generation (runs.k). */
  k: number;
}

export interface GenerationMeta extends Generation {
  job: string;
  /** Rows the run wrote: sizes the arrays before loading. */
  rows: number;
  fallback: { itemIds: string[]; scores: number[] } | null;
  /** The run's item map (index -> id), read once per load; null: its rows store item ids (before sql/006). */
  itemMap: string[] | null;
}

/** What the run ledger says about a run; undefined when the run is not there (pruned, or another database). */
export async function readGenerationMeta(client: Queryable, runId: number): Promise<GenerationMeta | undefined> {
  const { rows } = await client.query<{
    job: string;
    prediction_date: string;
    model_version: string;
    generated_at: string;
    k: number;
    rows_written: number;
    fallback_item_ids: string[] | null;
    fallback_scores: number[] | null;
  }>(
    `select r.job, r.prediction_date::text as prediction_date, coalesce(r.model_version, '') as model_version,
            to_char(coalesce(r.finished_at, r.started_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as generated_at,
            coalesce(r.k, 0) as k, r.rows_written, r.fallback_item_ids, r.fallback_scores
       from batchcast.runs r where r.run_id = $1`,
    [runId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    job: r.job,
    runId,
    predictionDate: r.prediction_date,
    modelVersion: r.model_version,
    generatedAt: r.generated_at,
    k: r.k,
    rows: r.rows_written,
    fallback: r.fallback_item_ids && r.fallback_scores ? { itemIds: r.fallback_item_ids, scores: r.fallback_scores } : null,
    itemMap: await readItemMap(client, runId),
  };
}

/**
 * The run's rows as COPY binary: per row user_id (text), items, scores (real[]); items are int4[] indices
 * into meta.itemMap, or text[] item ids for a run written before sql/006 (item-maps.ts storedRowsSql).
 * COPY takes no bind parameters; the run id pasted into the text is checked to be a safe integer first.
 * The client must not have a short statement_timeout (a 1M-user COPY takes seconds).
 */
export function generationRows(client: pg.ClientBase, meta: Pick<GenerationMeta, 'runId' | 'itemMap'>): Readable {
  const { runId } = meta;
  if (!Number.isSafeInteger(runId) || runId < 0) throw new Error(`run id ${runId} is not a run id`);
  return client.query(copyTo(`copy (${storedRowsSql(runId, meta.itemMap)}) to stdout (format binary)`));
}
