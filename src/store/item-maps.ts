// Compact rows (sql/006): a run stores item indices (int4[]) and the index -> item id mapping
// is stored once per items file in batchcast.item_maps, keyed by the sha256 of its ids, shared by runs.
// The one place that writes a map, reads it back, and says which column a run's items are in.
import { createHash } from 'node:crypto';
import type { Queryable } from './queryable.ts';
import { runTable } from './tables.ts';

/** sha256 (hex) of the ids in index order, one per line: the same mapping gives the same key, whatever file it came from. */
export function itemsSha256(itemIds: string[]): string {
  const h = createHash('sha256');
  for (const id of itemIds) h.update(id).update('\n');
  return h.digest('hex');
}

/**
 * Stores the mapping unless a run already did (one statement: concurrent runs with the same items file
 * insert it once, the other's rows conflict and are skipped). Returns its key for runs.items_sha256.
 */
export async function saveItemMap(db: Queryable, itemIds: string[]): Promise<string> {
  const sha = itemsSha256(itemIds);
  const { rows } = await db.query<{ n: string }>('select count(*) as n from batchcast.item_maps where items_sha256 = $1', [sha]);
  if (Number(rows[0].n) !== itemIds.length) {
    await db.query(
      `insert into batchcast.item_maps (items_sha256, idx, item_id)
       select $1, (n - 1)::int4, id from unnest($2::text[]) with ordinality as u (id, n)
       on conflict do nothing`,
      [sha, itemIds],
    );
    // Statistics now, not at autovacuum's next pass: without them the planner guesses a few rows per map and
    // probes it by items_sha256 alone, reading the whole map for every item of a one-user query on the view.
    await db.query('analyze batchcast.item_maps');
  }
  return sha;
}

/** The item map stored under `sha` (index -> id); an error naming it when it is missing. */
export async function readItemMapOf(db: Queryable, sha: string, what: string): Promise<string[]> {
  const map = await db.query<{ ids: string[] }>(
    "select coalesce(array_agg(item_id order by idx), '{}') as ids from batchcast.item_maps where items_sha256 = $1",
    [sha],
  );
  const ids = map.rows[0].ids;
  if (!ids.length) throw new Error(`${what}: its item map ${sha} is missing from batchcast.item_maps; the run cannot be read`);
  return ids;
}

/** A run's item map (index -> id), or null when the run stores item ids as text (written before sql/006). */
export async function readItemMap(db: Queryable, runId: number): Promise<string[] | null> {
  const { rows } = await db.query<{ items_sha256: string | null }>('select items_sha256 from batchcast.runs where run_id = $1', [runId]);
  const sha = rows[0]?.items_sha256;
  return sha ? readItemMapOf(db, sha, `run ${runId}`) : null;
}

const cached = new Map<string, Promise<string[]>>();

/**
 * The item map of `sha`, read once per process (a map never changes: its key is the hash of its ids). For the
 * lookup API, which decodes indices per request. At most 16 maps are kept, the oldest read goes first.
 */
export function cachedItemMap(db: Queryable, sha: string): Promise<string[]> {
  let map = cached.get(sha);
  if (!map) {
    map = readItemMapOf(db, sha, `item map ${sha}`);
    map.catch(() => cached.delete(sha));
    if (cached.size >= 16) cached.delete(cached.keys().next().value!);
    cached.set(sha, map);
  }
  return map;
}

/**
 * For readers that decode items themselves (in-memory loading, export): a SELECT of one run's rows as
 * (user_id, items, scores), where items is int4[] (indices into readItemMap's array) when the run has a
 * map, else text[] (item ids, the format before sql/006).
 */
export function storedRowsSql(runId: number, map: string[] | null): string {
  return `select user_id, ${map ? 'item_idx' : 'item_ids'} as items, scores from ${runTable(runId)}`;
}
