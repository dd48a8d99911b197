// Shard tables of a generation that never completes: shard 0 of 2 really runs (its table kept for the merge),
// shard 1 never comes, and the date is then run without shards. While the sharded generation is running its
// table stays; once retention retires the date (marking that generation failed), or prune finds a shard table
// whose run is not running, the table is dropped.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { connectClient } from '../src/db/connect.ts';
import { pruneGenerations } from '../src/retention/prune-generations.ts';
import { retainDates } from '../src/retention/retain-dates.ts';
import { predict } from '../src/run/predict.ts';
import { predictShard } from '../src/run/predict-shard.ts';
import { createShardTable } from '../src/store/shard-tables.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const [d1, d2] = ['2026-11-10', '2026-11-20'];
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

beforeAll(async () => {
  t = await createTestDb('orphan_shards');
  fx = await makeFixture({
    name: 'orphan',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 100,
    items: 20,
    dates: [d1, d2],
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
  // the date is run again without shards, and the next date too: the sharded generation is still "running"
  expect((await predict({ job: fx.job, date: d1, config, db: t.db, log })).status).toBe('published');
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
