// A lost COMMIT reply must not drop the published table. The run's lock connection (on which it publishes)
// goes through a proxy that forwards the publish's COMMIT and cuts the connection before the reply
// arrives: the server has committed, the client saw an error. predict re-reads the pointer on a fresh
// connection, finds its run published, and says so; the date stays readable and the ledger agrees with the
// pointer. And the one function that drops a run's table refuses a table the pointer names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { predictShard } from '../src/run/predict-shard.ts';
import { publishGeneration } from '../src/run/publish-generation.ts';
import { dropRunTable } from '../src/store/run-tables.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { lostReplyProxy } from './lost-reply-proxy.ts';

const [d1, d2, d3] = ['2026-11-19', '2026-11-20', '2026-11-21'];
let t: TestDb;
let fx: Fixture;
let config: Config;

beforeAll(async () => {
  t = await createTestDb('lost_commit_reply');
  fx = await makeFixture({
    name: 'lost',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 200,
    items: 40,
    k: 5,
    dates: [d1, d2, d3],
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
}, 60_000);

afterAll(async () => {
  await t?.drop();
});

async function state(date: string) {
  const pointer = await t.db.pool.query('select run_id::int from batchcast.published where job = $1 and prediction_date = $2', [
    fx.job,
    date,
  ]);
  const rows = await t.db.pool.query<{ run_id: number; n: number }>(
    'select run_id::int, count(*)::int as n from batchcast.recommendations where job = $1 and prediction_date = $2 group by run_id',
    [fx.job, date],
  );
  return { pointer: pointer.rows[0]?.run_id, readable: rows.rows };
}

describe('a publish whose COMMIT reply is lost', () => {
  it('is resolved by re-reading the pointer: published, readable, the ledger agreeing', async () => {
    const proxy = await lostReplyProxy(new URL(t.url));
    try {
      // the pool (ledger, guard) talks to the server directly; the lock connection, and so the publish, through the proxy
      const r = await predict({ job: fx.job, date: d1, config, db: { ...t.db, url: proxy.url }, log });
      expect(proxy.cuts()).toBe(1);
      expect(r.status).toBe('published');
      const s = await state(d1);
      expect(s.pointer).toBe(r.runId);
      expect(s.readable).toEqual([{ run_id: r.runId, n: 200 * 5 }]);
      const { rows } = await t.db.pool.query('select status, pruned_at from batchcast.runs where run_id = $1', [r.runId]);
      expect(rows).toEqual([{ status: 'succeeded', pruned_at: null }]);
      const logged = await t.db.pool.query('select action from batchcast.publish_log where run_id = $1', [r.runId]);
      expect(logged.rows).toEqual([{ action: 'publish' }]);
    } finally {
      proxy.close();
    }
  }, 60_000);

  it('the next run of the date publishes over it as usual', async () => {
    const before = (await state(d1)).pointer;
    const r = await predict({ job: fx.job, date: d1, config, db: t.db, log });
    expect(r.status).toBe('published');
    expect(r.previousRunId).toBe(before);
    expect((await state(d1)).readable).toEqual([{ run_id: r.runId, n: 200 * 5 }]);
  }, 60_000);

  it('batchcast publish --run (a rollback) whose reply is lost says it rolled back', async () => {
    const now = (await state(d1)).pointer!;
    const { rows } = await t.db.pool.query<{ run_id: number }>(
      `select run_id::int from batchcast.runs where job = $1 and prediction_date = $2 and status = 'succeeded' and run_id < $3 order by run_id desc limit 1`,
      [fx.job, d1, now],
    );
    const proxy = await lostReplyProxy(new URL(t.url));
    try {
      const out = await publishGeneration({ ...t.db, url: proxy.url }, config, rows[0].run_id);
      expect(proxy.cuts()).toBe(1);
      expect(out).toMatchObject({ action: 'rollback', runId: rows[0].run_id, previousRunId: now });
      expect((await state(d1)).readable).toEqual([{ run_id: rows[0].run_id, n: 200 * 5 }]);
    } finally {
      proxy.close();
    }
  }, 60_000);
});

describe('a sharded generation whose publish reply is lost', () => {
  it('is published by the shard that finished it, and its table kept', async () => {
    const first = await predictShard({ job: fx.job, date: d3, config, db: t.db, log, shard: { index: 0, count: 2 } });
    expect(first.generation).toBeUndefined();
    const proxy = await lostReplyProxy(new URL(t.url));
    try {
      const last = await predictShard({
        job: fx.job,
        date: d3,
        config,
        db: { ...t.db, url: proxy.url },
        log,
        shard: { index: 1, count: 2 },
      });
      expect(proxy.cuts()).toBe(1);
      expect(last.generation?.status).toBe('published');
      const s = await state(d3);
      expect(s.pointer).toBe(last.runId);
      expect(s.readable).toEqual([{ run_id: last.runId, n: 200 * 5 }]);
      const { rows } = await t.db.pool.query('select status from batchcast.runs where run_id = $1', [last.runId]);
      expect(rows).toEqual([{ status: 'succeeded' }]);
    } finally {
      proxy.close();
    }
  }, 60_000);
});

describe('dropRunTable', () => {
  it('refuses the table the pointer names, whoever asks (predict, a shard finish, prune, retention)', async () => {
    const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
    await expect(dropRunTable(t.db.pool, r.runId)).rejects.toThrow(
      new RegExp(`not dropping .*: run ${r.runId} is the published generation of job ${fx.job}, date ${d2}`),
    );
    expect((await state(d2)).readable).toEqual([{ run_id: r.runId, n: 200 * 5 }]);
  }, 60_000);
});
