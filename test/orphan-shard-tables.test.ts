// Shard tables of a generation that never completes: shard 0 of 2 really runs (its table kept for the merge),
// shard 1 never comes. While the sharded generation is running its table stays; once the date is published by
// a later run (the default job configuration: no retention.days), the prune after that publish finds it
// abandoned (no shard scoring), marks it failed and drops its table; retention retiring the date does too,
// and prune drops any shard table whose run is not running.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { connectClient } from '../src/db/connect.ts';
import { pruneGenerations } from '../src/retention/prune-generations.ts';
import { retainDates } from '../src/retention/retain-dates.ts';
import { predict } from '../src/run/predict.ts';
import { predictShard } from '../src/run/predict-shard.ts';
import { acquireShardLock } from '../src/store/shard-ledger.ts';
import { createShardTable } from '../src/store/shard-tables.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const [d1, d2, d3, d4] = ['2026-11-10', '2026-11-20', '2026-11-22', '2026-11-23'];
let t: TestDb;
let fx: Fixture;
let config: Config;

const shardTables = async () =>
  (
    await t.db.pool.query<{ t: string }>(
      `select relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'batchcast' and relname ~ '^predictions_r[0-9]+_s[0-9]+$' order by 1`,
    )
  ).rows.map((r) => r.t);

/** Shard tables of one run (the second test leaves one of a run marked running, by design). */
const shardTablesOf = async (runId: number) => (await shardTables()).filter((x) => x.startsWith(`predictions_r${runId}_s`));

beforeAll(async () => {
  t = await createTestDb('orphan_shards');
  fx = await makeFixture({
    name: 'orphan',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 100,
    items: 20,
    dates: [d1, d2, d3, d4],
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
}, 120_000);
afterAll(async () => {
  await t?.drop();
});

it('a sharded generation that never completes leaves no shard table once retention retires its date', async () => {
  const half = await predictShard({ job: fx.job, date: d1, config, db: t.db, log, shard: { index: 0, count: 2 } });
  expect(half.outcome).toBe('scored');
  expect(half.generation).toBeUndefined();
  expect(await shardTables()).toEqual([`predictions_r${half.runId}_s0`]);
  // the next date is run: the sharded generation of d1 is still "running", and nothing published d1 after it
  expect((await predict({ job: fx.job, date: d2, config, db: t.db, log })).status).toBe('published');
  expect(await shardTables()).toEqual([`predictions_r${half.runId}_s0`]);

  const client = await connectClient(t.url, config, { statementTimeoutMs: 0 });
  try {
    const r = await retainDates(t.db, client, {
      job: fx.job,
      days: 5,
      archive: undefined,
      memoryLimit: '128MB',
      archiveTimeoutMs: 60_000,
      lockTimeoutMs: 5_000,
    });
    expect(r.retired.map((x) => x.date)).toEqual([d1]);
    expect(await shardTables()).toEqual([]);
    const { rows } = await t.db.pool.query('select status, pruned_at is not null as pruned from batchcast.runs where run_id = $1', [
      half.runId,
    ]);
    expect(rows[0]).toEqual({ status: 'failed', pruned: true });
  } finally {
    await client.end();
  }
}, 120_000);

it('prune drops shard tables whose run is not running, and keeps those of a running generation', async () => {
  const client = await connectClient(t.url, config, { statementTimeoutMs: 0 });
  try {
    const insert = (status: string) =>
      t.db.pool
        .query<{ run_id: number }>(
          `insert into batchcast.runs (job, prediction_date, host, pid, shards, status) values ('orphan', '2026-11-21', 'h', 0, 2, $1) returning run_id`,
          [status],
        )
        .then((q) => q.rows[0].run_id);
    const failed = await insert('failed');
    const running = await insert('running');
    for (const run of [failed, running]) await createShardTable(client, run, 1);
    await createShardTable(client, 999_999, 0); // a run the ledger does not know
    await pruneGenerations(t.db, client, { job: 'nobody', keep: 3 });
    expect(await shardTables()).toEqual([`predictions_r${running}_s1`]);
  } finally {
    await client.end();
  }
}, 60_000);

it('under the default job configuration (no retention.days), a later publish of the date ends an abandoned sharded generation', async () => {
  const half = await predictShard({ job: fx.job, date: d3, config, db: t.db, log, shard: { index: 0, count: 2 } });
  expect(half.outcome).toBe('scored');
  expect(await shardTablesOf(half.runId)).toEqual([`predictions_r${half.runId}_s0`]);
  // the date is run again without shards: published, and the prune after the publish finds the sharded one abandoned
  expect((await predict({ job: fx.job, date: d3, config, db: t.db, log })).status).toBe('published');
  expect(await shardTablesOf(half.runId)).toEqual([]);
  const { rows } = await t.db.pool.query('select status, pruned_at is not null as pruned, error from batchcast.runs where run_id = $1', [
    half.runId,
  ]);
  expect(rows[0]).toEqual({
    status: 'failed',
    pruned: true,
    error: 'abandoned: a sharded generation whose missing shards never came (found by prune)',
  });
}, 120_000);

it('a sharded generation with a shard still scoring (its shard lock held) is not abandoned, even once its date is published', async () => {
  const half = await predictShard({ job: fx.job, date: d4, config, db: t.db, log, shard: { index: 0, count: 2 } });
  const scoring = await acquireShardLock(t.url, config, half.runId, { index: 1, count: 2 }, 'test');
  try {
    expect((await predict({ job: fx.job, date: d4, config, db: t.db, log })).status).toBe('published');
    expect(await shardTablesOf(half.runId)).toEqual([`predictions_r${half.runId}_s0`]);
    const { rows } = await t.db.pool.query('select status from batchcast.runs where run_id = $1', [half.runId]);
    expect(rows[0]).toEqual({ status: 'running' });
  } finally {
    await scoring.release();
  }
  // once no shard scores, the next prune of the date takes it
  await pruneGenerations(t.db, t.db.pool, { job: fx.job, date: d4, keep: 3 });
  expect(await shardTablesOf(half.runId)).toEqual([]);
}, 120_000);
