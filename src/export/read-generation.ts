// Which generation an export reads, and its rows, in user id order, a bounded chunk at a time.
// A generation never changes once written (DESIGN.md), so an export is valid for as long as its run exists;
// the export's transaction holds its partition (ACCESS SHARE), so prune cannot drop it mid-stream.
import { BadInputError } from '../errors.ts';
import { heldRun } from '../store/date-statuses.ts';
import { readItemMap, storedRowsSql } from '../store/item-maps.ts';
import { getRun } from '../store/ledger.ts';
import { publishedRunId } from '../store/pointer.ts';
import type { Queryable } from '../store/queryable.ts';

export interface ExportedGeneration {
  job: string;
  date: string;
  runId: number;
  modelVersion: string;
  k: number;
  users: number;
}

/** What an export says about itself, the same in Arrow's schema metadata and Parquet's key-value metadata. */
export function exportMetadata(g: ExportedGeneration): Map<string, string> {
  return new Map([
    ['batchcast.job', g.job],
    ['batchcast.prediction_date', g.date],
    ['batchcast.run_id', String(g.runId)],
    ['batchcast.model_version', g.modelVersion],
    ['batchcast.k', String(g.k)],
  ]);
}

/** A chunk of a generation's rows, parallel arrays in user id order. */
export interface RowChunk {
  userIds: string[];
  itemIds: string[][];
  scores: number[][];
}

/**
 * The published generation of (job, date), or run `runId` of that (job, date) when given. A job/date with
 * nothing published, or a run that is not a finished generation of it, is bad input naming them.
 */
export async function findGeneration(client: Queryable, job: string, date: string, runId?: number): Promise<ExportedGeneration> {
  const where = `job ${job}, date ${date}`;
  const id = runId ?? (await publishedRunId(client, job, date));
  const r = id === undefined ? undefined : await getRun(client, id);
  const held = !r && runId === undefined ? await heldRun(client, job, date) : undefined;
  if (held !== undefined) {
    throw new BadInputError(
      `${where}: held: run ${held} was written but a gate of the job held it back (\`batchcast report --job ${job} --date ${date}\` says why), so nothing is published; ` +
        `publish it with \`batchcast publish --run ${held} --reason "..."\` or export it with --run ${held}`,
    );
  }
  if (!r) {
    throw new BadInputError(
      runId === undefined
        ? `${where}: nothing is published; run \`batchcast predict --job ${job} --date ${date}\` first, or check the date (\`batchcast runs --job ${job}\`)`
        : `${where}: run ${runId} does not exist; see \`batchcast runs --job ${job} --date ${date}\``,
    );
  }
  if (r.job !== job || r.prediction_date !== date) {
    throw new BadInputError(
      `${where}: run ${runId} belongs to job ${r.job}, date ${r.prediction_date}; give that --job and --date, or another --run`,
    );
  }
  // A held or shadow run keeps its table: it can be exported by its id, to look at before publishing it.
  const written = r.status === 'succeeded' || (runId !== undefined && (r.status === 'held' || r.status === 'shadow'));
  if (!written || r.pruned_at) {
    throw new BadInputError(
      `${where}: run ${r.run_id} is ${r.pruned_at ? 'pruned (its rows were dropped)' : r.status}, not a generation to export; see \`batchcast runs --job ${job} --date ${date}\``,
    );
  }
  return { job, date, runId: Number(r.run_id), modelVersion: r.model_version ?? '', k: r.k ?? 0, users: Number(r.rows_written) };
}

/**
 * The one place an export reads a run's rows: a cursor over the run's own table (item-maps.ts storedRowsSql), in
 * user id order (its unique index's order, so no sort), `chunkRows` users per round trip. Arrays travel as json
 * for the native JSON.parse (as in store/lookup-users.ts). A compact run's item indices are decoded here through its
 * item map, read once. Needs a transaction around it (see exportGeneration).
 */
export async function* readGenerationRows(client: Queryable, runId: number, chunkRows: number): AsyncGenerator<RowChunk> {
  const cursor = `batchcast_export_${runId}`;
  const map = await readItemMap(client, runId);
  await client.query(`declare ${cursor} no scroll cursor for
    select user_id, array_to_json(items) as items, array_to_json(scores) as scores
      from (${storedRowsSql(runId, map)}) s order by user_id`);
  try {
    for (;;) {
      const { rows } = await client.query<{ user_id: string; items: (number | string)[]; scores: number[] }>(
        `fetch forward ${Number(chunkRows)} from ${cursor}`,
      );
      if (rows.length === 0) return;
      const itemIds = map ? rows.map((r) => (r.items as number[]).map((i) => map[i])) : rows.map((r) => r.items as string[]);
      yield { userIds: rows.map((r) => r.user_id), itemIds, scores: rows.map((r) => r.scores) };
    }
  } finally {
    await client.query(`close ${cursor}`).catch(() => {});
  }
}
