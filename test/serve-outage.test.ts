// The database goes away under the API and comes back, with the generation NOT held in memory
// (serve.memoryBudgetMb 0, the database path; serve-memory-outage.test.ts has the memory case): lookups
// answer 503 with Retry-After (never a crash, never credentials), /healthz stays up, and lookups succeed
// again within 1 s of the database returning, with the pool back to its size. A PostgreSQL of its own
// (embedded), so stopping it disturbs no other test file.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmbeddedConfig, loadConfig } from '../src/config/load-config.ts';
import { openDb } from '../src/db/connect.ts';
import { type EmbeddedServer, freePort, startEmbedded } from '../src/db/embedded.ts';
import type { TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let dir: string;
let cfg: EmbeddedConfig;
let pg: EmbeddedServer | undefined;
let t: TestDb;
let pub: Published;
let server: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-outage-pg-'));
  chmodSync(dir, 0o755); // the postgres user must reach its data directory inside
  cfg = { dataDir: path.join(dir, 'pg'), port: await freePort(), user: 'postgres', password: 'outage-secret', startTimeoutMs: 90_000 };
  pg = await startEmbedded(cfg, () => {});
  const config = loadConfig({ databaseUrl: pg.url }, {});
  const db = await openDb(config, { poolSize: 4 });
  t = { url: pg.url, db, config, drop: () => db.close() };
  pub = await publishFixture(t, { name: 'outage' });
  server = await startTestServer(pg.url, pub.fx.root, { poolSize: 4, memoryBudgetMb: 0 });
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('answers 503 + Retry-After while the database is down and recovers by itself within 1 s', async () => {
  const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0]);
  const target = `/v1/jobs/outage/users/${user}/recommendations`;
  expect((await get(server.url, target)).status).toBe(200);

  // Lookups keep coming while the server stops and starts: each is a 200 or a 503, nothing else.
  let load = true;
  const statuses = new Map<number, number>();
  const loaders = Array.from({ length: 8 }, async () => {
    while (load) {
      const a = await get(server.url, target);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status === 503) await new Promise((r) => setTimeout(r, 20));
    }
  });

  await pg!.stop();
  pg = undefined;
  const down = await get(server.url, target);
  expect(down.status).toBe(503);
  expect(down.headers['retry-after']).toBe('1');
  expect(down.json).toMatchObject({ error: 'database_unavailable' });
  expect(down.body).not.toContain('outage-secret');
  expect(down.body).not.toContain('postgres://');
  expect((await get(server.url, '/readyz')).status).toBe(503);
  expect((await get(server.url, '/healthz')).status).toBe(200);
  expect((await get(server.url, '/metrics')).status).toBe(200);
  await new Promise((r) => setTimeout(r, 500));

  pg = await startEmbedded(cfg, () => {});
  const back = performance.now();
  let recoveredMs = Infinity;
  while (performance.now() - back < 5_000) {
    if ((await get(server.url, target)).status === 200) {
      recoveredMs = performance.now() - back;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  // Let the loaders see the recovered database too before they stop.
  await new Promise((r) => setTimeout(r, 300));
  load = false;
  await Promise.all(loaders);

  expect(recoveredMs).toBeLessThan(1_000);
  // Only 200 or 503, ever; 503s while it was down, 200s once it was back.
  expect([...statuses.keys()].sort()).toEqual([200, 503]);
  // /readyz answers from state at most 1 s old (probes never cost a query each): ready again within ~1 s
  let ready = 0;
  for (const end = performance.now() + 2_500; performance.now() < end && ready !== 200; await new Promise((r) => setTimeout(r, 50)))
    ready = (await get(server.url, '/readyz')).status;
  expect(ready).toBe(200);
  // No leaked connections: a burst afterwards leaves the pool within its size and nobody waiting.
  await Promise.all(Array.from({ length: 50 }, () => get(server.url, target)));
  expect(server.pool.totalCount).toBeLessThanOrEqual(4);
  expect(server.pool.waitingCount).toBe(0);
});
