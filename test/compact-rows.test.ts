// Compact rows (sql/006): runs store item indices (int4[]) and share one item map per items
// file; a generation published before 006 (item ids as text[]) is served identically after it, by the
// view, the lookup API (PostgreSQL and memory), exports and the guardrails' reader.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { readGenerationRows } from '../src/export/read-generation.ts';
import { runRows } from '../src/guard/run-rows.ts';
import { predict } from '../src/run/predict.ts';
import { buildMemoryGeneration } from '../src/serve/generations/memory-generation.ts';
import { generationRows, readGenerationMeta } from '../src/store/generation.ts';
import { itemsSha256 } from '../src/store/item-maps.ts';
import { lookupUsers } from '../src/store/lookup-users.ts';
import { listMigrations, migrate } from '../src/store/migrate.ts';
import { attachRunTable, createRunTable, indexRunTable } from '../src/store/run-tables.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { type Published, publishFixture } from './serve-helpers.ts';

const served = `select job, prediction_date::text as date, user_id, array_agg(item_id order by rank) as item_ids, array_agg(score order by rank) as scores
                  from batchcast.recommendations group by 1, 2, 3 order by 1, 2, 3`;

/** Every way one run's rows are read, as user -> item ids. */
async function readEveryWay(t: TestDb, job: string, date: string, runId: number, users: string[]) {
  const client = await t.db.pool.connect();
  try {
    const lookup = await lookupUsers(client, job, date, users);
    const meta = (await readGenerationMeta(client, runId))!;
    const memory = await buildMemoryGeneration(meta, generationRows(client, meta), Number.POSITIVE_INFINITY);
    await client.query('begin');
    const exported = new Map<string, string[]>();
    for await (const c of readGenerationRows(client, runId, 7)) c.userIds.forEach((u, i) => exported.set(u, c.itemIds[i]));
    await client.query('commit');
    const guard = await client.query<{ user_id: string; item_ids: string[] }>(`select user_id, item_ids from ${runRows(runId)} r`);
    return {
      lookup: users.map((_u, i) => lookup!.users[i].itemIds),
      memory: users.map((u) => memory.lookup(u).itemIds),
      exported: users.map((u) => exported.get(u) ?? null),
      guard: users.map((u) => guard.rows.find((r) => r.user_id === u)?.item_ids ?? null),
      exportedUsers: exported.size,
    };
  } finally {
    client.release();
  }
}

describe('compact runs', () => {
  let t: TestDb;
  let pub: Published;
  let second: number;
  beforeAll(async () => {
    t = await createTestDb('compact');
    pub = await publishFixture(t, { name: 'cmp', users: 300, items: 40, k: 6, dates: ['2026-11-20', '2026-11-21'] });
    const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
    second = (await predict({ job: pub.fx.job, date: '2026-11-21', config, db: t.db, log })).runId;
  }, 120_000);
  afterAll(async () => {
    await t?.drop();
  });

  it('store int4 indices, and two runs with the same items file share one map', async () => {
    const { rows } = await t.db.pool.query<{ run_id: string; items_sha256: string }>(
      'select run_id, items_sha256 from batchcast.runs where run_id = any($1) order by run_id',
      [[pub.runId, second]],
    );
    expect(rows.map((r) => r.items_sha256)).toEqual([itemsSha256(pub.fx.itemIds), itemsSha256(pub.fx.itemIds)]);
    const maps = await t.db.pool.query(
      'select items_sha256, count(*)::int as n, min(idx) as lo, max(idx) as hi from batchcast.item_maps group by 1',
    );
    expect(maps.rows).toEqual([{ items_sha256: itemsSha256(pub.fx.itemIds), n: 40, lo: 0, hi: 39 }]);
    const stored = await t.db.pool.query(`select count(*)::int as n, count(item_ids)::int as texts, count(item_idx)::int as indices,
                                                pg_typeof(min(item_idx))::text as type from batchcast.predictions_r${second}`);
    expect(stored.rows[0]).toEqual({ n: 300, texts: 0, indices: 300, type: 'integer[]' });
  });

  it('every reader decodes the indices to the same item ids as the view', async () => {
    const view = (await t.db.pool.query(served)).rows.filter((r) => r.date === '2026-11-21');
    expect(view.length).toBe(300);
    const users = [view[0].user_id, view[150].user_id, view[299].user_id, 'nobody'];
    const want = [...users.slice(0, 3).map((u) => view.find((r) => r.user_id === u)!.item_ids), null];
    const got = await readEveryWay(t, pub.fx.job, '2026-11-21', second, users);
    expect(got.lookup).toEqual(want);
    expect(got.memory.slice(0, 3)).toEqual(want.slice(0, 3));
    expect(got.exported).toEqual(want);
    expect(got.guard).toEqual(want);
    expect(got.exportedUsers).toBe(300);
    for (const r of view) for (const id of r.item_ids) expect(pub.fx.itemIds).toContain(id);
  });
});

describe('a generation published before 006 (item ids as text[])', () => {
  let t: TestDb;
  const users = ['u0', 'u7', 'u49', 'nobody'];
  beforeAll(async () => {
    t = await createTestDb('compact_migrate');
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('is served identically after the migration, next to a compact one', async () => {
    const db = t.db.pool;
    await db.query(`create schema if not exists batchcast;
      create table if not exists batchcast.migrations (id int primary key, name text not null, applied_at timestamptz not null default now())`);
    for (const m of listMigrations().filter((x) => x.id < 6)) {
      await db.query(readFileSync(m.file, 'utf8'));
      await db.query('insert into batchcast.migrations (id, name) values ($1, $2)', [m.id, m.name]);
    }
    // written as predict wrote it before 006: its own table, item ids as text, indexed, attached, published
    const { rows } = await db.query(`insert into batchcast.runs (job, prediction_date, status, model_version, k, rows_written, finished_at)
                                     values ('old', '2026-11-19', 'succeeded', 'v-old', 3, 50, now()) returning run_id`);
    const id = Number(rows[0].run_id);
    const client = await t.db.pool.connect();
    try {
      await createRunTable(client, id);
      await client.query(`insert into batchcast.predictions_r${id} (user_id, item_ids, scores)
                          select 'u' || g, array['i' || (g % 7), 'é' || ((g + 3) % 11), 'x'], array[0.9, 0.5, 0.125]::real[] from generate_series(0, 49) g`);
      await indexRunTable(client, id);
      await attachRunTable(client, id, 1000);
    } finally {
      client.release();
    }
    await db.query(`insert into batchcast.published (job, prediction_date, run_id) values ('old', '2026-11-19', $1)`, [id]);
    const before = (await db.query(served)).rows;
    expect(before.length).toBe(50);

    expect((await migrate(db)).slice(0, 2)).toEqual(['006_compact_rows', '007_lookup_reads_drift']); // and whatever came after
    expect((await db.query(served)).rows).toEqual(before);
    const want = users.map((u) => before.find((r) => r.user_id === u)?.item_ids ?? null);
    expect(want[1]).toEqual(['i0', 'é10', 'x']);
    const got = await readEveryWay(t, 'old', '2026-11-19', id, users);
    expect(got.lookup).toEqual(want);
    expect(got.memory.slice(0, 3)).toEqual(want.slice(0, 3));
    expect(got.exported).toEqual(want);
    expect(got.guard).toEqual(want);

    // a compact run published after it: the view serves both formats side by side
    const pub = await publishFixture(t, { name: 'new', users: 60, items: 25, k: 4 });
    const after = (await db.query(served)).rows;
    expect(after.filter((r) => r.job === 'old')).toEqual(before);
    expect(after.filter((r) => r.job === pub.fx.job).length).toBe(60);
    expect((await db.query(`select count(*)::int as n from batchcast.recommendations where item_id is null`)).rows[0].n).toBe(0);
  }, 120_000);
});
