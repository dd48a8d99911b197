// A publish racing lookups: two real generations of one (job, date) with different models, the pointer
// flipped back and forth as fast as publishRun allows while 32 clients look users up. Every answer must
// be a 200 whose items are exactly one generation's row for that user: never a mix, never empty.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel, randomTwoTower } from '../src/demo/build-model.ts';
import { predict } from '../src/run/predict.ts';
import { publishRun } from '../src/store/pointer.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let runA: number;
let runB: number;
let server: TestServer;
/** run id -> user id -> item ids */
const expected = new Map<number, Map<string, string[]>>();

beforeAll(async () => {
  t = await createTestDb('serve_consistency');
  pub = await publishFixture(t, { name: 'flip', users: 300, items: 80, k: 5 });
  runA = pub.runId;
  // Generation B: same users and date, another model, so its items differ from A's.
  const weights = randomTwoTower({ inputSize: 6, hidden: 12, embedding: 8, items: 80 }, 99);
  writeFileSync(
    path.join(pub.fx.root, 'data', 'flip', 'model.onnx'),
    buildTwoTowerModel(weights, { k: 5, output: 'top_k', version: 'flip-v2' }),
  );
  const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  runB = (await predict({ job: 'flip', date: pub.date, config, db: t.db, log })).runId;
  for (const run of [runA, runB]) {
    const { rows } = await t.db.pool.query<{ user_id: string; item_ids: string[] }>(
      `select x.user_id, coalesce(x.item_ids, batchcast.item_ids(r.items_sha256, x.item_idx)) as item_ids
       from batchcast.predictions x join batchcast.runs r using (run_id) where run_id = $1`,
      [run],
    );
    expected.set(run, new Map(rows.map((r) => [r.user_id, r.item_ids])));
  }
  server = await startTestServer(t.url, pub.fx.root);
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

it('lookups racing publishes see the old or the new generation, never a mix or nothing', async () => {
  const ids = pub.fx.users.get(pub.date)!.ids;
  const differ = ids.filter((u) => expected.get(runA)!.get(u)!.join() !== expected.get(runB)!.get(u)!.join());
  expect(differ.length, 'the two generations must differ for the test to mean anything').toBeGreaterThan(ids.length / 2);

  let stop = false;
  let flips = 0;
  const flipper = (async () => {
    const client = await t.db.pool.connect();
    try {
      let target = runA;
      while (!stop) {
        await publishRun(client, { job: 'flip', date: pub.date, runId: target, action: 'publish', lockTimeoutMs: 2_000 });
        flips++;
        target = target === runA ? runB : runA;
      }
    } finally {
      client.release();
    }
  })();

  const seen = new Map<number, number>();
  const problems: string[] = [];
  let answers = 0;
  let i = 0;
  const clients = Array.from({ length: 32 }, async () => {
    while (!stop) {
      const user = differ[i++ % differ.length];
      const a = await get(server.url, `/v1/jobs/flip/users/${encodeURIComponent(user)}/recommendations`);
      answers++;
      if (a.status !== 200) {
        problems.push(`${user}: status ${a.status} ${a.body}`);
        continue;
      }
      const want = expected.get(a.json.run_id)?.get(user);
      const got = a.json.items.map((x: { item_id: string }) => x.item_id);
      if (!want) problems.push(`${user}: run ${a.json.run_id} is neither ${runA} nor ${runB}`);
      else if (got.join() !== want.join())
        problems.push(`${user}: run ${a.json.run_id} answered ${got.join()} but that generation holds ${want.join()}`);
      seen.set(a.json.run_id, (seen.get(a.json.run_id) ?? 0) + 1);
    }
  });
  // Until enough flips and answers (about 3 s alone, longer when other test files share the cores).
  const started = Date.now();
  while (!(flips >= 60 && answers >= 2_000) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all([...clients, flipper]);

  expect(problems.slice(0, 5)).toEqual([]);
  expect(flips).toBeGreaterThanOrEqual(60);
  expect(answers).toBeGreaterThanOrEqual(2_000);
  // Both generations were really served while flipping.
  expect(seen.get(runA)).toBeGreaterThan(200);
  expect(seen.get(runB)).toBeGreaterThan(200);
});
