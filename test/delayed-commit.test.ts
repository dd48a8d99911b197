// A publish whose outcome the client cannot see is resolved only once nothing can still commit.
// 1. A COMMIT delayed in the network (not lost): the client times out (queryTimeoutMs), and the COMMIT would
//    land later. predict ends the publishing session (pg_terminate_backend, awaited out of pg_stat_activity)
//    before it re-reads the pointer: the late COMMIT finds no session, and the pointer never names a dropped
//    table. Before, the re-read came first, the table was dropped, and the COMMIT then published it.
// 2. A lost COMMIT reply and a pointer that cannot be re-read either: the error stands and nothing is marked
//    failed or dropped; the run the pointer names stays readable, its ledger row succeeded.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { runTable } from '../src/store/tables.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { holdingProxy } from './holding-proxy.ts';
import { lostReplyProxy } from './lost-reply-proxy.ts';

const [d1, d2] = ['2026-11-19', '2026-11-20'];
let t: TestDb;
let fx: Fixture;
let config: Config;

beforeAll(async () => {
  t = await createTestDb('delayed_commit');
  fx = await makeFixture({
    name: 'delayed',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 200,
    items: 40,
    k: 5,
    dates: [d1, d2],
  });
  config = loadConfig(
    { databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1, queryTimeoutMs: 2_000, statementTimeoutMs: 1_500 },
    {},
  );
}, 60_000);

afterAll(async () => {
  await t?.drop();
});

async function state(date: string) {
  const p = await t.db.pool.query('select run_id::int from batchcast.published where job = $1 and prediction_date = $2', [fx.job, date]);
  const r = await t.db.pool.query<{ run_id: number; status: string }>(
    'select run_id::int, status from batchcast.runs where job = $1 and prediction_date = $2 order by run_id',
    [fx.job, date],
  );
  const table = r.rows[0] ? (await t.db.pool.query('select to_regclass($1)::text as t', [runTable(r.rows[0].run_id)])).rows[0].t : null;
  const n = await t.db.pool.query('select count(*)::int as n from batchcast.recommendations where job = $1 and prediction_date = $2', [
    fx.job,
    date,
  ]);
  return { pointer: p.rows[0]?.run_id as number | undefined, runs: r.rows, table, readable: n.rows[0].n as number };
}

it('a COMMIT delayed past the client timeout cannot land after the re-read: the pointer never names a dropped table', async () => {
  const proxy = await holdingProxy(new URL(t.url));
  let outcome: string;
  try {
    outcome = await predict({ job: fx.job, date: d1, config, db: { ...t.db, url: proxy.url }, log }).then(
      (r) => r.status,
      (e: Error) => `threw: ${e.message}`,
    );
    expect(proxy.holding()).toBe(true);
    expect(proxy.sessionClosed()).toBe(true); // ended by the publish check, before the COMMIT could arrive
    await proxy.release(); // too late: no session to commit
  } finally {
    proxy.close();
  }
  expect(outcome).toMatch(/^threw: /);
  const s = await state(d1);
  expect(s.pointer).toBeUndefined();
  expect(s.runs).toEqual([{ run_id: s.runs[0].run_id, status: 'failed' }]);
  expect(s.table).toBeNull();
  expect(s.readable).toBe(0);
}, 90_000);

it('a lost COMMIT reply with the pointer unreadable too: the error stands, nothing is marked failed or dropped', async () => {
  const proxy = await lostReplyProxy(new URL(t.url), { refuseAfterCut: true });
  let err: Error | undefined;
  try {
    await predict({ job: fx.job, date: d2, config, db: { ...t.db, url: proxy.url }, log }).catch((e: Error) => {
      err = e;
    });
    expect(proxy.cuts()).toBe(1);
  } finally {
    proxy.close();
  }
  expect(err).toBeDefined();
  const s = await state(d2);
  // the COMMIT did reach the server: published, its table kept, its ledger row as the transaction left it
  expect(s.pointer).toBe(s.runs[0].run_id);
  expect(s.runs).toEqual([{ run_id: s.pointer, status: 'succeeded' }]);
  expect(s.table).not.toBeNull();
  expect(s.readable).toBe(200 * 5);
}, 90_000);
