// A year of daily runs, asserted on the plans, not on timings: with hundreds of published
// dates, a job + date query on the view and the lookup API each reach one predictions partition; a
// database migrated from the run_id layout (001 + 002 + 004, then 003) serves the same answers.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datesBefore, writeSmallDates } from '../bench/small-dates.ts';
import { pruneGenerations } from '../src/retention/prune-generations.ts';
import { publishGeneration } from '../src/run/publish-generation.ts';
import { lookupSql, lookupUsers } from '../src/store/lookup-users.ts';
import { listMigrations, migrate } from '../src/store/migrate.ts';
import { generationSource } from '../src/store/run-tables.ts';
import { adminUrl, createTestDb, type TestDb } from './helpers.ts';

interface PlanNode {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** Every table a plan scans, with how often it ran (EXPLAIN ANALYZE) or -1 (EXPLAIN). */
async function scannedTables(db: Pick<pg.ClientBase, 'query'>, sql: string, analyze = false): Promise<{ table: string; loops: number }[]> {
  const { rows } = await db.query(`explain (format json${analyze ? ', analyze' : ''}) ${sql}`);
  const out: { table: string; loops: number }[] = [];
  const walk = (n: PlanNode) => {
    if (n['Relation Name']) out.push({ table: n['Relation Name'], loops: n['Actual Loops'] ?? -1 });
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  return out;
}

const runTables = (scans: { table: string }[]) => scans.filter((s) => /^predictions_r\d+$/.test(s.table)).map((s) => s.table);
const lit = (s: string) => pg.escapeLiteral(s);
const oneUser = (job: string, date: string, user: string) =>
  `select item_id, score, rank, run_id from batchcast.recommendations
    where job = ${lit(job)} and prediction_date = ${lit(date)} and user_id = ${lit(user)} order by rank`;
const wholeDay = (job: string, date: string) =>
  `select item_id, count(*) as n from batchcast.recommendations
    where job = ${lit(job)} and prediction_date = ${lit(date)} group by item_id order by n desc limit 10`;

describe('hundreds of published dates', () => {
  let t: TestDb;
  let client: pg.Client;
  const dates = datesBefore('2026-11-21', 300);
  let runs: number[] = [];
  let rerun: number;

  beforeAll(async () => {
    t = await createTestDb('many_dates');
    await migrate(t.db.pool);
    client = new pg.Client({ connectionString: t.url });
    await client.connect();
    runs = await writeSmallDates(client, { job: 'daily', dates, users: 20, k: 3 });
    // another job on the same dates, and an attached but unpublished generation of one date
    await writeSmallDates(client, { job: 'other', dates: dates.slice(-20), users: 20, k: 3 });
    [rerun] = await writeSmallDates(client, { job: 'daily', dates: [dates[150]], users: 20, k: 3, finish: 'attached' });
    await client.query('analyze');
  }, 240_000);
  afterAll(async () => {
    await client?.end();
    await t?.drop();
  });

  it('a job + date + user query on the view plans exactly one predictions partition', async () => {
    for (const i of [0, 123, 299]) {
      const tables = runTables(await scannedTables(client, oneUser('daily', dates[i], 'u7')));
      expect(tables).toEqual([`predictions_r${runs[i]}`]);
    }
    const tables = runTables(await scannedTables(client, wholeDay('daily', dates[42])));
    expect(tables).toEqual([`predictions_r${runs[42]}`]);
    // and the answer is the published run's
    const { rows } = await client.query(oneUser('daily', dates[123], 'u7'));
    expect(rows.map((r) => r.run_id)).toEqual([runs[123], runs[123], runs[123]]);
  });

  it('a date with two attached generations plans only those two and answers from the published one', async () => {
    const scans = (await scannedTables(client, oneUser('daily', dates[150], 'u3'), true)).filter((s) => /^predictions_r/.test(s.table));
    expect(scans.map((s) => s.table).sort()).toEqual([`predictions_r${runs[150]}`, `predictions_r${rerun}`].sort());
    const { rows } = await client.query(oneUser('daily', dates[150], 'u3'));
    expect(rows.length).toBe(3);
    expect(new Set(rows.map((r) => r.run_id))).toEqual(new Set([runs[150]]));
  });

  it('the lookup API statement reads the one run table, as a generic plan', async () => {
    const runId = runs[299];
    await client.query('set plan_cache_mode = force_generic_plan');
    await client.query(`prepare lookup_probe (text, date, text[]) as ${lookupSql(runId)}`);
    const scans = await scannedTables(client, `execute lookup_probe('daily', null, array['u1', 'u2', 'nobody'])`, true);
    await client.query('deallocate lookup_probe; reset plan_cache_mode');
    expect(runTables(scans)).toEqual([`predictions_r${runId}`]);
    expect(scans.some((s) => s.table === 'predictions')).toBe(false);
    expect(generationSource(runId)).toContain(`from batchcast.predictions_r${runId} t`);

    // and it answers what the view holds, for the latest date and for an old one
    for (const [date, i] of [
      [null, 299],
      [dates[5], 5],
    ] as const) {
      const answer = await lookupUsers(client, 'daily', date, ['u1', 'u19', 'nobody']);
      expect(answer?.generation.runId).toBe(runs[i]);
      const { rows } = await client.query(oneUser('daily', dates[i], 'u19'));
      expect(answer?.users[1]).toEqual({ found: true, itemIds: rows.map((r) => r.item_id), scores: rows.map((r) => r.score) });
      expect(answer?.users[2].found).toBe(false);
    }
  });

  it('the lookup follows the pointer to another run, also when the run it knew was pruned', async () => {
    const date = dates[150];
    expect((await lookupUsers(client, 'daily', date, ['u1']))?.generation.runId).toBe(runs[150]);
    await publishGeneration(t.db, t.config, rerun); // the newer, unpublished generation becomes the served one
    // prune keeps 1 per date: the table this connection last read goes
    expect((await pruneGenerations(t.db, t.db.pool, { job: 'daily', date, keep: 1 })).dropped).toEqual([runs[150]]);
    const answer = await lookupUsers(client, 'daily', date, ['u1']);
    expect(answer?.generation.runId).toBe(rerun);
    expect(answer?.users[0].found).toBe(true);
  });
});

describe('migrating a database that served from the run_id layout', () => {
  let t: TestDb;
  const reader = `bc_reader_${Math.random().toString(36).slice(2, 8)}`;
  const dates = ['2026-11-18', '2026-11-19', '2026-11-20'];
  const served = `select job, prediction_date::text, user_id, rank, item_id, score, run_id, model_version
                    from batchcast.recommendations order by job, prediction_date, user_id, rank`;

  /** Applies the given migrations only, as migrate() would have on a database made before 003. */
  async function applyOnly(ids: number[]) {
    await t.db.pool.query(`create schema if not exists batchcast;
      create table if not exists batchcast.migrations (id int primary key, name text not null, applied_at timestamptz not null default now())`);
    for (const m of listMigrations().filter((x) => ids.includes(x.id))) {
      await t.db.pool.query(readFileSync(m.file, 'utf8'));
      await t.db.pool.query('insert into batchcast.migrations (id, name) values ($1, $2)', [m.id, m.name]);
    }
  }

  /** A run written the way predict wrote it before 003: partition `for values in (run_id)`. */
  async function oldRun(job: string, date: string, opts: { publish: boolean; attach?: boolean; status?: string }): Promise<number> {
    const db = t.db.pool;
    const { rows } = await db.query(
      `insert into batchcast.runs (job, prediction_date, status, model_version, k, finished_at) values ($1, $2, $3, 'v-old', 3, now()) returning run_id`,
      [job, date, opts.status ?? 'succeeded'],
    );
    const id: number = rows[0].run_id;
    const tbl = `batchcast.predictions_r${id}`;
    await db.query(`create table ${tbl} (like batchcast.predictions including defaults including constraints)`);
    await db.query(
      `alter table ${tbl} alter column run_id set default ${id}, add constraint predictions_r${id}_run check (run_id = ${id})`,
    );
    await db.query(
      `insert into ${tbl} (user_id, item_ids, scores)
                    select 'u' || g, array['i' || (g % 7), 'i' || ((g + $1) % 11), 'x'], array[0.9, 0.5, 0.1]::real[] from generate_series(0, 49) g`,
      [id],
    );
    await db.query(`create unique index predictions_r${id}_run_user on ${tbl} (run_id, user_id)`);
    if (opts.attach !== false) await db.query(`alter table batchcast.predictions attach partition ${tbl} for values in (${id})`);
    if (opts.publish) {
      await db.query(
        `insert into batchcast.published (job, prediction_date, run_id) values ($1, $2, $3)
                      on conflict (job, prediction_date) do update set run_id = excluded.run_id`,
        [job, date, id],
      );
    }
    return id;
  }

  beforeAll(async () => {
    t = await createTestDb('migrate_003');
  });
  afterAll(async () => {
    await t?.drop();
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`drop role if exists ${reader}`).finally(() => admin.end());
  });

  it('keeps serving the same answers, to the same roles, and the old generations stay usable', async () => {
    await applyOnly([1, 2, 4]); // 004 (guardrails) is on main already: 003 comes after it
    const ids: Record<string, number> = {};
    for (const d of dates) ids[d] = await oldRun('daily', d, { publish: true });
    ids.older = await oldRun('daily', dates[2], { publish: false }); // attached, unpublished (a rerun not published)
    ids.held = await oldRun('daily', dates[1], { publish: false, status: 'held' });
    ids.failed = await oldRun('daily', dates[0], { publish: false, attach: false, status: 'failed' }); // left for prune
    ids.other = await oldRun('other-job', dates[2], { publish: true });
    await t.db.pool.query(`create role ${reader} login password 'reader-pw'`);
    await t.db.pool.query('select batchcast.grant_lookup_access($1)', [reader]);
    const before = (await t.db.pool.query(served)).rows;
    expect(before.length).toBe(4 * 50 * 3);

    expect(await migrate(t.db.pool)).toEqual(
      listMigrations()
        .filter((m) => m.id === 3 || m.id > 4)
        .map((m) => m.name),
    );
    expect((await t.db.pool.query(served)).rows).toEqual(before);

    // the held run is attached but not visible; its rows moved with it
    const held = await t.db.pool.query(`select count(*)::int as n from ${generationSource(ids.held)}`);
    expect(held.rows[0].n).toBe(50);
    expect(before.some((r) => r.run_id === ids.held)).toBe(false);

    // the read-only role reads the view and, through the lookup, the published run's table
    const u = new URL(t.url);
    u.username = reader;
    u.password = 'reader-pw';
    const ro = new pg.Client({ connectionString: u.toString() });
    await ro.connect();
    try {
      expect((await ro.query(served)).rows).toEqual(before);
      const answer = await lookupUsers(ro, 'daily', null, ['u4', 'u49']);
      expect(answer?.generation.runId).toBe(ids[dates[2]]);
      const expected = before.filter((r) => r.prediction_date === dates[2] && r.job === 'daily' && r.user_id === 'u4');
      expect(answer?.users[0].itemIds).toEqual(expected.map((r) => r.item_id));
      // and a run table made after the migration
      const owner = new pg.Client({ connectionString: t.url });
      await owner.connect();
      const [fresh] = await writeSmallDates(owner, { job: 'daily', dates: ['2026-11-21'], users: 5, k: 3 }).finally(() => owner.end());
      expect((await lookupUsers(ro, 'daily', null, ['u4']))?.generation.runId).toBe(fresh);
    } finally {
      await ro.end();
    }

    // plan-time pruning on the migrated tables
    const tables = runTables(await scannedTables(t.db.pool, oneUser('daily', dates[0], 'u1')));
    expect(tables).toEqual([`predictions_r${ids[dates[0]]}`]);

    // publish --run of a migrated generation, and prune of a migrated one and of the old standalone failed table
    const rb = await publishGeneration(t.db, t.config, ids.older);
    expect(rb.previousRunId).toBe(ids[dates[2]]);
    const pruned = await pruneGenerations(t.db, t.db.pool, { job: 'daily', keep: 1 });
    expect(pruned.dropped).toEqual(expect.arrayContaining([ids.failed, ids[dates[2]]]));
    expect((await t.db.pool.query(oneUser('daily', dates[2], 'u1'))).rows.map((r) => r.run_id)).toEqual([ids.older, ids.older, ids.older]);
  });
});
