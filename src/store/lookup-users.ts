// The lookup: one statement reads the pointer, the run and the users' rows from the run's own table, so
// every answer comes from exactly one published generation (the statement's snapshot), even while a
// publish flips the pointer, and its cost does not grow with the number of dates kept.
// Many users of the same (job, date) are read together: one round trip for all lookups that arrived in
// the same event-loop tick (the API's LookupBatcher).
import type { Generation } from './generation.ts';
import { cachedItemMap } from './item-maps.ts';
import type { Queryable } from './queryable.ts';
import { runTable } from './tables.ts';

/** One requested user: their stored items, or the run's fallback items when the run has no row for them. */
export interface UserRecommendations {
  found: boolean;
  itemIds: string[] | null;
  scores: number[] | null;
  /** Each item's `{"item_id":...,"score":` as the answer's JSON writes it, when the source caches them (memory). */
  itemHeads?: string[];
}

export interface LookupResult {
  generation: Generation;
  /** In the order of the requested user ids. */
  users: UserRecommendations[];
}

/**
 * `g` is the published generation. The users' rows are read from the run's own table
 * (runTable), named in the statement text: the plan touches one table whatever the number of
 * partitions kept. Through the parent, a generic plan locks every partition on each execution (1,000
 * dates: 1.39k rps against 20.3k with one, bench/README.md). The table named is the run the pointer named when
 * this process last looked; `g` re-reads the pointer in the same snapshot, and when it names another run
 * the rows say so (run_id differs) and lookupUsers asks again for that run: every answer still comes from
 * exactly one published generation, the one the statement's snapshot sees.
 * The fallback arrays are only sent for users without a row; `collate "C"` matches the index.
 * A compact run's items (sql/006) come as indices and are decoded in JS through its item map, read once per
 * process (item-maps.ts cachedItemMap): decoding in SQL, ten index probes of batchcast.item_maps per user,
 * cost the API 0.62 x its rate (bench/README.md). Old runs' item ids come as they are stored.
 * Arrays travel as json, which pg hands to the native JSON.parse: 40-43 µs of server CPU per lookup
 * against 42-46 µs when pg's JavaScript array parser reads text[] and real[] (bench/README-lookup.md).
 */
const GENERATION_SQL = `
  select p.run_id, p.prediction_date::text as prediction_date, coalesce(r.model_version, '') as model_version,
         to_char(coalesce(r.finished_at, p.published_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as generated_at,
         coalesce(r.k, 0) as k, r.fallback_item_ids, r.fallback_scores, r.items_sha256
    from batchcast.published p
    join batchcast.runs r on r.run_id = p.run_id
   where p.job = $1
     and p.prediction_date = coalesce($2::date, (select max(prediction_date) from batchcast.published where job = $1))`;

/** The lookup of `userIds` in run `runId`'s table; `$1` job, `$2` date or null, `$3` user ids. */
export function lookupSql(runId: number): string {
  const id = Math.trunc(runId);
  return `
with g as materialized (${GENERATION_SQL})
select g.run_id, g.prediction_date, g.model_version, g.generated_at, g.k, u.i::int as i,
       x.user_id is not null as found,
       case when x.item_idx is null then array_to_json(coalesce(x.item_ids, g.fallback_item_ids)) end as item_ids,
       array_to_json(x.item_idx) as item_idx, g.items_sha256,
       array_to_json(coalesce(x.scores, g.fallback_scores)) as scores
  from g
 cross join unnest($3::text[]) with ordinality as u (user_id, i)
  left join ${runTable(id)} x
         on g.run_id = ${id} and x.run_id = ${id} and x.user_id = u.user_id collate "C"`;
}

interface Row {
  run_id: number;
  prediction_date: string;
  model_version: string;
  generated_at: string;
  k: number;
  i: number;
  found: boolean;
  item_ids: string[] | null;
  /** a compact run's item indices (sql/006): decoded here through its item map */
  item_idx: number[] | null;
  items_sha256: string | null;
  scores: number[] | null;
}

/**
 * Per connection: `served`, the run each (job, date) was published as when this connection last asked (a
 * hint, checked by every lookup); `names`, run id -> name of its prepared lookup, least recently used
 * first. A year of daily runs would otherwise leave 365 prepared statements (and plans) in every backend;
 * past PREPARED_PER_CONNECTION the oldest is deallocated. A name is never reused (`next` counts), because
 * pg remembers every name it parsed.
 */
interface ConnectionState {
  served: Map<string, number>;
  names: Map<number, string>;
  next: number;
}
const connections = new WeakMap<object, ConnectionState>();
const PREPARED_PER_CONNECTION = 32;

async function connectionState(client: Queryable): Promise<ConnectionState> {
  let state = connections.get(client);
  if (!state) {
    // A generic plan, planned once per connection and run: with plan_cache_mode=auto PostgreSQL 15
    // re-plans a one-user batch on every execution (custom plans, 513 µs a statement against 216 µs).
    await client.query('set plan_cache_mode = force_generic_plan');
    state = { served: new Map(), names: new Map(), next: 0 };
    connections.set(client, state);
  }
  return state;
}

async function statementName(client: Queryable, state: ConnectionState, runId: number): Promise<string> {
  let name = state.names.get(runId);
  if (name !== undefined) {
    state.names.delete(runId); // most recently used goes last
  } else {
    name = `batchcast_lookup_${state.next++}_r${Math.trunc(runId)}`;
    if (state.names.size >= PREPARED_PER_CONNECTION) {
      const [oldRun, oldName] = state.names.entries().next().value as [number, string];
      state.names.delete(oldRun);
      await client.query(`deallocate ${oldName}`).catch(() => {}); // never prepared (it failed): nothing to free
    }
  }
  state.names.set(runId, name);
  return name;
}

/**
 * Reads `userIds` from the generation published for (job, date), or for the job's latest published date
 * when `date` is null. Undefined when nothing is published for it. One statement when this process has
 * looked up the (job, date) before and the pointer has not moved since; otherwise one more to find the run.
 * Each connection learns the published runs for itself: nothing is shared across databases or pools.
 */
export async function lookupUsers(
  client: Queryable,
  job: string,
  date: string | null,
  userIds: string[],
): Promise<LookupResult | undefined> {
  const state = await connectionState(client);
  const servedRuns = state.served;
  const key = date === null ? job : `${job}\u0000${date}`;
  // A pointer can move between two statements; three moves during one lookup would be a publish loop.
  for (let attempt = 0; attempt < 3; attempt++) {
    let runId = servedRuns.get(key);
    if (runId === undefined) {
      const { rows } = await client.query<{ run_id: number }>({
        name: 'batchcast_published_run_v2',
        text: `select run_id from (${GENERATION_SQL}) g`,
        values: [job, date],
      });
      if (!rows.length) return undefined;
      runId = rows[0].run_id;
      servedRuns.set(key, runId);
    }
    let rows: Row[];
    try {
      const name = await statementName(client, state, runId);
      ({ rows } = await client.query<Row>({ name, text: lookupSql(runId), values: [job, date, userIds] }));
    } catch (err) {
      // The run's table is gone: it was unpublished and pruned since this process looked. Ask the pointer.
      if ((err as { code?: string }).code !== '42P01') throw err;
      state.names.delete(runId);
      servedRuns.delete(key);
      continue;
    }
    if (rows.length === 0) {
      servedRuns.delete(key); // nothing published for it any more (retention removed the date)
      return undefined;
    }
    if (rows[0].run_id !== runId) {
      servedRuns.set(key, rows[0].run_id); // published since: read the new run's table
      continue;
    }
    const first = rows[0];
    const generation: Generation = {
      runId: first.run_id,
      predictionDate: first.prediction_date,
      modelVersion: first.model_version,
      generatedAt: first.generated_at,
      k: first.k,
    };
    const users: UserRecommendations[] = new Array(userIds.length);
    const map = rows.some((r) => r.item_idx) ? await cachedItemMap(client, first.items_sha256!) : [];
    for (const r of rows)
      users[r.i - 1] = { found: r.found, itemIds: r.item_idx ? r.item_idx.map((x) => map[x]) : r.item_ids, scores: r.scores };
    return { generation, users };
  }
  throw new Error(`lookup in job ${job}${date ? `, date ${date}` : ''}: the published run changed three times during one lookup; retry`);
}
