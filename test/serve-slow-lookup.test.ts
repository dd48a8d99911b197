// A lookup whose database statement times out while the database is up (the LISTEN link holds) answers 503,
// never from a run the pointer no longer names: memory answers for a lookup only in an outage (docs/reliability.md).
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { publishRun } from '../src/store/pointer.ts';
import { runTable } from '../src/store/tables.ts';
import { type Fixture, makeFixture, userIdFor, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, startTestServer, type TestServer } from './serve-helpers.ts';

const [d1, d2] = ['2026-11-19', '2026-11-20'];
let t: TestDb;
let fx: Fixture;
let server: TestServer;
let runA: number;
let runB: number;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await createTestDb('slow_lookup');
  fx = await makeFixture({
    name: 'slowlk',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 40,
    k: 5,
    dates: [d1, d2],
  });
  const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  runA = (await predict({ job: fx.job, date: d1, config, db: t.db, log })).runId;
  const rows = Array.from({ length: 20_000 }, (_, i) => ({
    id: userIdFor('int', i),
    features: fx.featureNames.map((_, j) => Math.sin(i * 0.37 + j)),
  }));
  const opts = { idType: 'int' as const, featureMode: 'columns' as const, featureNames: fx.featureNames };
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-0.parquet'), rows, opts);
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-1.parquet'), [], opts);
  runB = (await predict({ job: fx.job, date: d2, config, db: t.db, log, shadow: true })).runId;
  server = await startTestServer(t.url, fx.root, { memoryBudgetMb: 2, pointerPollMs: 600_000, statementTimeoutMs: 300 });
  for (const until = Date.now() + 15_000; !server.served.current(fx.job, null); await pause(10)) expect(Date.now()).toBeLessThan(until);
}, 180_000);
afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

it('a slow lookup (statement timeout, database up) answers 503 and retryable, never from A which the pointer no longer names', async () => {
  const c = await t.db.pool.connect();
  await publishRun(c, { job: fx.job, date: d2, runId: runB, action: 'publish', lockTimeoutMs: 2000 });
  c.release();
  const user = fx.users.get(d1)!.ids[3];
  const target = `/v1/jobs/${fx.job}/users/${user}/recommendations`;
  for (const until = Date.now() + 5000; (await get(server.url, target)).json?.run_id !== runB; await pause(20))
    expect(Date.now()).toBeLessThan(until);
  const locker = new pg.Client({ connectionString: t.url });
  await locker.connect();
  await locker.query('begin');
  await locker.query(`lock table ${runTable(runB)} in access exclusive mode`);
  try {
    const a = await get(server.url, target);
    expect(server.served.databaseDown).toBe(false);
    expect(a.json?.run_id).not.toBe(runA);
    expect(a.status).toBe(503);
    expect(a.json?.error).toBe('database_unavailable');
    expect(a.headers['retry-after']).toBe('1');
  } finally {
    await locker.query('rollback');
    await locker.end();
  }
  const after = await get(server.url, target);
  expect(after.status).toBe(200);
  expect(after.json?.run_id).toBe(runB);
}, 60_000);
