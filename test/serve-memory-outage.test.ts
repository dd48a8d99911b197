// The database goes away under the API while the published generation is held in memory: lookups keep
// answering 200 from memory, naming the run; /readyz says 200 "degraded" and /metrics shows
// batchcast_serve_degraded 1; what is not held (another date) answers 503. When the database returns, the
// LISTEN link reconnects and re-reads the pointers, and the API catches up with a generation another
// writer publishes right after the restart. A PostgreSQL of its own (embedded), as in
// serve-outage.test.ts, so stopping it disturbs no other test file.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmbeddedConfig, loadConfig } from '../src/config/load-config.ts';
import { openDb } from '../src/db/connect.ts';
import { type EmbeddedServer, freePort, startEmbedded } from '../src/db/embedded.ts';
import { buildTwoTowerModel, randomTwoTower } from '../src/demo/build-model.ts';
import { predict } from '../src/run/predict.ts';
import { log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';
import { silentProxy } from './silent-proxy.ts';

let dir: string;
let cfg: EmbeddedConfig;
let pg: EmbeddedServer | undefined;
let t: TestDb;
let pub: Published;
let server: TestServer;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-memory-outage-pg-'));
  chmodSync(dir, 0o755);
  cfg = { dataDir: path.join(dir, 'pg'), port: await freePort(), user: 'postgres', password: 'outage-secret', startTimeoutMs: 90_000 };
  pg = await startEmbedded(cfg, () => {});
  const config = loadConfig({ databaseUrl: pg.url }, {});
  const db = await openDb(config, { poolSize: 4 });
  t = { url: pg.url, db, config, drop: () => db.close() };
  // Gates off: the retrained model published after the outage changes item popularity entirely, which the
  // guardrails would hold (then the new generation would never be served).
  pub = await publishFixture(t, { name: 'outage', job: { gates: { enabled: false } } });
  // The poll is 10 minutes: catching up after the outage must come from the LISTEN reconnect.
  server = await startTestServer(pg.url, pub.fx.root, { poolSize: 4, pointerPollMs: 600_000, heartbeatMs: 500 });
  await until('the generation in memory', () => server.served.current('outage', null)?.generation.runId === pub.runId);
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('answers 200 from memory while the database is down, says degraded, and catches up when it returns', async () => {
  const users = pub.fx.users.get(pub.date)!.ids;
  const target = (u: string) => `/v1/jobs/outage/users/${encodeURIComponent(u)}/recommendations`;
  const before = new Map<string, string>();
  for (const u of users.slice(0, 50)) before.set(u, (await get(server.url, target(u))).body);
  expect((await get(server.url, '/readyz')).json.status).toBe('ready');

  await t.db.close(); // the test's own pool, so nothing of the test's holds the stopped server
  await pg!.stop();
  pg = undefined;
  await until('the outage noticed', () => server.served.databaseDown, 10_000);

  for (const [u, body] of before) {
    const a = await get(server.url, target(u));
    expect(a.status, u).toBe(200);
    expect(a.body, u).toBe(body); // the same generation, named by its run id
    expect(a.json.run_id).toBe(pub.runId);
  }
  // /readyz answers from state at most 1 s old (probes never cost a query each): degraded within ~1 s
  await until('readyz degraded', async () => (await get(server.url, '/readyz')).json?.status === 'degraded', 3_000);
  const ready = await get(server.url, '/readyz');
  expect(ready.status).toBe(200);
  expect(ready.json).toMatchObject({
    status: 'degraded',
    jobs: { outage: { run_id: pub.runId, prediction_date: pub.date, source: 'memory' } },
  });
  expect((await get(server.url, '/metrics')).body).toMatch(/batchcast_serve_degraded 1/);
  // A date not held in memory needs the database: 503, as before.
  const other = await get(server.url, `${target(users[0])}?date=2026-11-01`);
  expect(other.status).toBe(503);
  expect(other.headers['retry-after']).toBe('1');

  // Back, and a new generation published by another writer right away: the reconnect re-reads the pointer.
  pg = await startEmbedded(cfg, () => {});
  const db = await openDb(loadConfig({ databaseUrl: pg.url }, {}), { poolSize: 2 });
  t = { ...t, db, drop: () => db.close() };
  const modelFile = path.join(pub.fx.root, 'data', 'outage', 'model.onnx');
  writeFileSync(
    modelFile,
    buildTwoTowerModel(randomTwoTower({ inputSize: 6, hidden: 12, embedding: 8, items: 60 }, 5), {
      k: 5,
      output: 'top_k',
      version: 'outage-v2',
    }),
  );
  const config = loadConfig({ databaseUrl: pg.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  const next = (await predict({ job: 'outage', date: pub.date, config, db, log })).runId;
  await until('the new generation answered', async () => (await get(server.url, target(users[0]))).json?.run_id === next);
  await until('the new generation in memory', () => server.served.current('outage', null)?.generation.runId === next);
  expect(server.served.databaseDown).toBe(false);
  await until('readyz ready again', async () => (await get(server.url, '/readyz')).json?.status === 'ready', 3_000);
  expect((await get(server.url, '/readyz')).json).toMatchObject({ status: 'ready', jobs: { outage: { run_id: next } } });
  expect((await get(server.url, '/metrics')).body).toMatch(/batchcast_serve_degraded 0/);
});

it('a silently dead link (half-open: no error, no answer) is found by the heartbeat; lookups keep answering from memory', async () => {
  const proxy = await silentProxy(new URL(pg!.url));
  const behind = await startTestServer(proxy.url, pub.fx.root, {
    poolSize: 2,
    statementTimeoutMs: 500,
    pointerPollMs: 600_000,
    heartbeatMs: 300,
  });
  try {
    await until('the generation in memory', () => behind.served.current('outage', null) !== undefined);
    const run = behind.served.current('outage', null)!.generation.runId;
    const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[1]);
    proxy.goSilent();
    const t0 = performance.now();
    await until('the heartbeat to notice', () => behind.served.databaseDown, 5_000);
    expect(performance.now() - t0).toBeLessThan(3_000); // two heartbeats (300 ms each) and slack for a busy box
    const a = await get(behind.url, `/v1/jobs/outage/users/${user}/recommendations`);
    expect(a.status).toBe(200);
    expect(a.json.run_id).toBe(run);
    const ready = await get(behind.url, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.status).toBe('degraded');
  } finally {
    // the proxy first: pg-pool's end() would wait ~9 s on the pool's own half-open connections
    proxy.close();
    await behind.stop().catch(() => {});
  }
});
