// The lookup: one statement reads the pointer, the run and the users' rows, so every answer comes from
// exactly one published generation (the statement's snapshot), even while a publish flips the pointer.
// Many users of the same (job, date) are read together: one round trip for all lookups that arrived in
// the same event-loop tick (see batch-lookups.ts).
import type pg from 'pg';

export interface Generation {
  runId: number;
  predictionDate: string;
  modelVersion: string;
  /** When the run finished, ISO 8601 UTC. */
  generatedAt: string;
  /** K stored for this generation (runs.k). */
  k: number;
}

/** One requested user: their stored items, or the run's fallback items when the run has no row for them. */
export interface UserRecommendations {
  found: boolean;
  itemIds: string[] | null;
  scores: number[] | null;
}

export interface LookupResult {
  generation: Generation;
  /** In the order of the requested user ids. */
  users: UserRecommendations[];
}

/**
 * `g` is the published generation; `x.run_id = (select run_id from g)` makes the run id an InitPlan
 * parameter, so PostgreSQL prunes the other partitions at executor start and probes one index. Joining
 * on `x.run_id = p.run_id` instead (as the view does) probes every partition's index: 4 partitions cost
 * 4 probes per user (EXPLAIN ANALYZE, PG 15), growing with every retained generation.
 * The fallback arrays are only sent for users without a row; `collate "C"` matches the index.
 * Arrays travel as json, which pg hands to the native JSON.parse: 40-43 µs of server CPU per lookup
 * against 42-46 µs when pg's JavaScript array parser reads text[] and real[] (bench/README-lookup.md).
 */
export const LOOKUP_SQL = `
with g as materialized (
  select p.run_id, p.prediction_date::text as prediction_date, coalesce(r.model_version, '') as model_version,
         to_char(coalesce(r.finished_at, p.published_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as generated_at,
         coalesce(r.k, 0) as k, r.fallback_item_ids, r.fallback_scores,
         p.published_at > now() - interval '10 seconds' as fresh
    from batchcast.published p
    join batchcast.runs r on r.run_id = p.run_id
   where p.job = $1
     and p.prediction_date = coalesce($2::date, (select max(prediction_date) from batchcast.published where job = $1)))
select g.run_id, g.prediction_date, g.model_version, g.generated_at, g.k, g.fresh, u.i::int as i,
       x.user_id is not null as found,
       array_to_json(coalesce(x.item_ids, g.fallback_item_ids)) as item_ids,
       array_to_json(coalesce(x.scores, g.fallback_scores)) as scores
  from g
 cross join unnest($3::text[]) with ordinality as u (user_id, i)
  left join batchcast.predictions x
         on x.run_id = (select run_id from g) and x.user_id = u.user_id collate "C"`;

interface Row {
  run_id: number;
  prediction_date: string;
  model_version: string;
  generated_at: string;
  k: number;
  fresh: boolean;
  i: number;
  found: boolean;
  item_ids: string[] | null;
  scores: number[] | null;
}

/** Connections already switched to generic plans (see lookupUsers). */
const genericPlans = new WeakSet<object>();

/**
 * Reads `userIds` from the generation published for (job, date), or for the job's latest published date
 * when `date` is null. Undefined when nothing is published for it. A named (prepared) statement: each
 * connection parses it once; and a generic plan, planned once: with plan_cache_mode=auto PostgreSQL 15
 * re-plans a one-user batch on every execution (custom plans, 513 µs a statement against 216 µs).
 */
export async function lookupUsers(
  client: Pick<pg.ClientBase, 'query'>,
  job: string,
  date: string | null,
  userIds: string[],
): Promise<LookupResult | undefined> {
  if (!genericPlans.has(client)) {
    await client.query('set plan_cache_mode = force_generic_plan');
    genericPlans.add(client);
  }
  let { rows } = await client.query<Row>({ name: 'batchcast_lookup_v1', text: LOOKUP_SQL, values: [job, date, userIds] });
  if (rows.length === 0) return undefined;
  // A statement whose cached plan was checked just before a new run's partition was attached, and whose
  // snapshot was taken just after the pointer moved to that run, sees the new run but not its partition:
  // every user "not found". Only possible right after a publish; asking once more plans afresh.
  if (rows[0].fresh && rows.some((r) => !r.found)) {
    const again = await client.query<Row>({ name: 'batchcast_lookup_v1', text: LOOKUP_SQL, values: [job, date, userIds] });
    if (again.rows.length) rows = again.rows;
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
  for (const r of rows) users[r.i - 1] = { found: r.found, itemIds: r.item_ids, scores: r.scores };
  return { generation, users };
}

/** Latest published generation per job: for /readyz and the served-generation gauge. */
export async function publishedGenerations(client: Pick<pg.ClientBase, 'query'>): Promise<Map<string, { date: string; runId: number }>> {
  const { rows } = await client.query<{ job: string; prediction_date: string; run_id: number }>(
    `select distinct on (job) job, prediction_date::text as prediction_date, run_id
       from batchcast.published order by job, prediction_date desc`,
  );
  return new Map(rows.map((r) => [r.job, { date: r.prediction_date, runId: r.run_id }]));
}
