// Lookups from memory against real generations (fixture -> predict -> publish): the same bytes as the
// database path for every user, publishes seen through NOTIFY (the poll set to 10 minutes, so nothing
// else could have told the server), a generation over serve.memoryBudgetMb served from PostgreSQL with
// a log line saying so, and no answer mixing two generations while the pointer flips under load.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel, randomTwoTower } from '../src/demo/build-model.ts';
import type { Logger } from '../src/log.ts';
import { predict } from '../src/run/predict.ts';
import { publishRun } from '../src/store/pointer.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let runA: number;
let runB: number;
let memory: TestServer;
let database: TestServer;
/** run id -> user id -> item ids */
const expected = new Map<number, Map<string, string[]>>();
const NO_POLL = { pointerPollMs: 600_000 };

const lookup = (job: string, user: string, query = '') => `/v1/jobs/${job}/users/${encodeURIComponent(user)}/recommendations${query}`;

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<number> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: (m) => lines.push(m),
    warn: (m) => lines.push(m),
    error: (m) => lines.push(m),
    child: () => logger,
  };
  return { logger, lines };
}

async function publish(runId: number, action: 'publish' | 'rollback' = 'publish'): Promise<void> {
  const c = await t.db.pool.connect();
  try {
    await publishRun(c, { job: 'mem', date: pub.date, runId, action, lockTimeoutMs: 2_000 });
  } finally {
    c.release();
  }
}

const fromMemoryCount = async (s: TestServer) =>
  Number(/batchcast_lookups_from_memory_total (\d+)/.exec((await get(s.url, '/metrics')).body)?.[1]);

beforeAll(async () => {
  t = await createTestDb('serve_memory');
  pub = await publishFixture(t, { name: 'mem', users: 300, items: 80, k: 5 });
  const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  // Generation B of the same (job, date) from another model; then A again, so A is the one published.
  const modelFile = path.join(pub.fx.root, 'data', 'mem', 'model.onnx');
  const modelA = readFileSync(modelFile);
  writeFileSync(
    modelFile,
    buildTwoTowerModel(randomTwoTower({ inputSize: 6, hidden: 12, embedding: 8, items: 80 }, 99), {
      k: 5,
      output: 'top_k',
      version: 'mem-v2',
    }),
  );
  runB = (await predict({ job: 'mem', date: pub.date, config, db: t.db, log })).runId;
  writeFileSync(modelFile, modelA);
  runA = pub.runId;
  await publish(runA);
  // The same job with a fallback, for users the run has no row for.
  const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
  writeFileSync(path.join(pub.fx.jobsDir, 'mem_fb.json'), JSON.stringify({ ...job, fallback: true }));
  await predict({ job: 'mem_fb', date: pub.date, config, db: t.db, log });
  for (const run of [runA, runB]) {
    const { rows } = await t.db.pool.query<{ user_id: string; item_ids: string[] }>(
      `select x.user_id, coalesce(x.item_ids, batchcast.item_ids(r.items_sha256, x.item_idx)) as item_ids
       from batchcast.predictions x join batchcast.runs r using (run_id) where run_id = $1`,
      [run],
    );
    expected.set(run, new Map(rows.map((r) => [r.user_id, r.item_ids])));
  }
  memory = await startTestServer(t.url, pub.fx.root, NO_POLL);
  database = await startTestServer(t.url, pub.fx.root, { memoryBudgetMb: 0 });
  await until('both jobs in memory', () => Boolean(memory.served.current('mem', null) && memory.served.current('mem_fb', null)));
});

afterAll(async () => {
  await memory?.stop();
  await database?.stop();
  closeAgent();
  await t?.drop();
});

describe('lookups from memory', () => {
  it('answer byte for byte what the database path answers: every user, k, fallback, 404, ETag', async () => {
    expect(memory.served.current('mem', null)?.generation.runId).toBe(runA);
    const before = await fromMemoryCount(memory);
    const targets: string[] = [];
    for (const user of pub.fx.users.get(pub.date)!.ids) targets.push(lookup('mem', user), lookup('mem_fb', user, '?k=2'));
    targets.push(lookup('mem', 'nobody-here'), lookup('mem_fb', 'nobody-here'), lookup('mem_fb', 'nobody-here', `?k=1&date=${pub.date}`));
    for (const target of targets) {
      const [m, d] = await Promise.all([get(memory.url, target), get(database.url, target)]);
      expect(m.status, target).toBe(d.status);
      expect(m.body, target).toBe(d.body);
      expect(m.headers.etag, target).toBe(d.headers.etag);
    }
    expect((await fromMemoryCount(memory)) - before).toBe(targets.length);
    expect(await fromMemoryCount(database)).toBe(0);
    // An older or unpublished date is not held: it goes to PostgreSQL, which says there is none.
    expect((await get(memory.url, lookup('mem', 'nobody-here', '?date=2026-11-01'))).json.error).toBe('generation_not_found');
  });

  it('learn of a publish by NOTIFY (the poll is 10 minutes), switch to the new run, and switch back at once on rollback', async () => {
    const user = [...expected.get(runA)!.keys()].find((u) => expected.get(runA)!.get(u)!.join() !== expected.get(runB)!.get(u)!.join())!;
    await publish(runB);
    const seenMs = await until(
      'the new run answered',
      async () => (await get(memory.url, lookup('mem', user))).json.run_id === runB,
      5_000,
    );
    expect(seenMs).toBeLessThan(5_000);
    await until('run B in memory', () => memory.served.current('mem', null)?.generation.runId === runB);
    const b = await get(memory.url, lookup('mem', user));
    expect(b.json.items.map((x: { item_id: string }) => x.item_id)).toEqual(expected.get(runB)!.get(user));
    // Rollback to A: A is still held (the previous generation is kept), so memory answers A right away.
    await publish(runA, 'rollback');
    await until('rollback answered', async () => (await get(memory.url, lookup('mem', user))).json.run_id === runA, 5_000);
    expect(memory.served.current('mem', null)?.generation.runId).toBe(runA);
  });

  it('never mix two generations while the pointer flips under 16 readers', async () => {
    const ids = [...expected.get(runA)!.keys()];
    const before = await fromMemoryCount(memory);
    let stop = false;
    let flips = 0;
    const flipper = (async () => {
      let target = runB;
      while (!stop) {
        await publish(target);
        flips++;
        target = target === runA ? runB : runA;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const problems: string[] = [];
    const seen = new Map<number, number>();
    let answers = 0;
    let i = 0;
    const readers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const user = ids[i++ % ids.length];
        const a = await get(memory.url, lookup('mem', user));
        answers++;
        if (a.status !== 200) {
          problems.push(`${user}: ${a.status} ${a.body}`);
          continue;
        }
        const want = expected.get(a.json.run_id)?.get(user);
        const got = a.json.items.map((x: { item_id: string }) => x.item_id).join();
        if (want?.join() !== got) problems.push(`${user}: run ${a.json.run_id} answered ${got}, that generation holds ${want?.join()}`);
        seen.set(a.json.run_id, (seen.get(a.json.run_id) ?? 0) + 1);
      }
    });
    const t0 = Date.now();
    while (!(flips >= 40 && answers >= 2_000) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all([...readers, flipper]);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(flips).toBeGreaterThanOrEqual(40);
    expect(seen.get(runA)).toBeGreaterThan(100);
    expect(seen.get(runB)).toBeGreaterThan(100);
    // Both generations stay held, so the flips were answered from memory, not by falling back to PostgreSQL.
    expect((await fromMemoryCount(memory)) - before).toBeGreaterThan(answers * 0.9);
  });
});

it('a generation larger than serve.memoryBudgetMb is served from PostgreSQL, and the log says so', async () => {
  const big = await publishFixture(t, { name: 'big', users: 20_000, items: 60, k: 10, filesPerDate: 1, batchSize: 4096 });
  const { logger, lines } = capture();
  const small = await startTestServer(t.url, big.fx.root, { ...NO_POLL, memoryBudgetMb: 1 }, logger);
  try {
    await until('the log line', () => lines.some((l) => l.includes(`run ${big.runId}`) && l.includes('served from PostgreSQL')));
    expect(lines.find((l) => l.includes(`run ${big.runId}`))).toMatch(
      /job big: run \d+ \(20000 users\) needs about \d+ MB, more than the 1 MB serve.memoryBudgetMb=1 leaves/,
    );
    expect(small.served.current('big', null)).toBeUndefined();
    const user = big.fx.users.get(big.date)!.ids[5];
    const a = await get(small.url, lookup('big', user));
    expect(a.status).toBe(200);
    expect(a.json.run_id).toBe(big.runId);
    expect(await fromMemoryCount(small)).toBe(0);
  } finally {
    await small.stop();
  }
});

describe('?include=attributes', () => {
  it('returns each item with its items.attributes columns, from memory and from PostgreSQL alike', async () => {
    // A job over the same data whose items file carries name, km and tags.
    const file = path.join(pub.fx.root, 'data', 'mem', 'items-attr.csv');
    const rows = pub.fx.itemIds.map((id, i) => ({
      id,
      name: `Route "${i}", the long way`,
      km: Math.round(i * 13.7) / 10,
      tags: i % 2 ? 'park;river' : 'cafe',
    }));
    writeFileSync(
      file,
      'idx,item_id,name,km,tags\n' +
        rows.map((r, i) => `${i},${r.id},"${r.name.replaceAll('"', '""')}",${r.km},${r.tags}`).join('\n') +
        '\n',
    );
    const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
    writeFileSync(
      path.join(pub.fx.jobsDir, 'mem_attr.json'),
      JSON.stringify({ ...job, items: { ...job.items, path: 'data/mem/items-attr.csv', attributes: ['name', 'km', 'tags'] } }),
    );
    const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
    await predict({ job: 'mem_attr', date: pub.date, config, db: t.db, log });
    for (const s of [memory, database]) s.catalogue.reload();
    await until('mem_attr in memory', () => memory.served.current('mem_attr', null) !== undefined);

    const byId = new Map(rows.map((r) => [r.id, { name: r.name, km: r.km, tags: r.tags }]));
    for (const user of pub.fx.users.get(pub.date)!.ids.slice(0, 20)) {
      const [m, d] = await Promise.all([memory, database].map((s) => get(s.url, lookup('mem_attr', user, '?include=attributes&k=3'))));
      expect(m.status).toBe(200);
      expect(m.body).toBe(d.body);
      expect(m.json.items).toHaveLength(3);
      for (const item of m.json.items) expect(item.attributes).toEqual(byId.get(item.item_id));
    }
    // Without include, no attributes; a job without attributes, or another include value, is a 400 naming include.
    expect((await get(memory.url, lookup('mem_attr', pub.fx.users.get(pub.date)!.ids[0]))).json.items[0].attributes).toBeUndefined();
    expect((await get(memory.url, lookup('mem', 'nobody', '?include=attributes'))).json).toMatchObject({
      parameter: 'include',
      message: expect.stringContaining('items.attributes'),
    });
    expect((await get(memory.url, lookup('mem_attr', 'nobody', '?include=everything'))).json).toMatchObject({ parameter: 'include' });
  });

  it('a misspelt attribute column fails the run at its check stage, naming the column', async () => {
    const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
    writeFileSync(path.join(pub.fx.jobsDir, 'mem_typo.json'), JSON.stringify({ ...job, items: { ...job.items, attributes: ['nmae'] } }));
    const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
    await expect(predict({ job: 'mem_typo', date: pub.date, config, db: t.db, log })).rejects.toThrow(
      /items file .*items\.csv: cannot read the attribute columns "nmae" \(items\.attributes\)/,
    );
  });
});
