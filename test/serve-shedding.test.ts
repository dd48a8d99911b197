// Shedding to an older generation, under 64 concurrent lookups (enough to keep more than 8 waiting for
// PostgreSQL, the point past which a loading job may shed). With serve.memoryBudgetMb = 2, run A (d1, 300
// users) is held and run B (d2, 20,000 users) is not: once B is published its lookups are served from
// PostgreSQL, as the README says, and never from A. A republished date asked for by ?date= and a rollback
// of a run not in memory never answer from the run the pointer no longer names either.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { publishRun } from '../src/store/pointer.ts';
import { type Fixture, makeFixture, userIdFor, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, startTestServer, type TestServer } from './serve-helpers.ts';

const [d1, d2] = ['2026-11-19', '2026-11-20'];
let t: TestDb;
let fx: Fixture;
let config: Config;
let server: TestServer;
let runA: number; // d1, published, held in memory
let runA2: number; // d1 again: a rerun, published later over A
let runB: number; // d2, over the memory budget
let runB2: number; // d2 again, published and then rolled back to B

interface Seen {
  target: string;
  sent: number;
  received: number;
  runId: number | undefined;
}

/** 64 clients asking `targets` round robin while `during` runs; every answer with its send and receive times. */
async function hammer(targets: () => string[], during: (seen: Seen[]) => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  let running = true;
  let n = 0;
  const client = async () => {
    while (running) {
      const list = targets();
      const target = list[n++ % list.length];
      const sent = performance.now();
      const a = await get(server.url, target);
      seen.push({ target, sent, received: performance.now(), runId: a.json?.run_id });
    }
  };
  const clients = Array.from({ length: 64 }, client);
  try {
    await during(seen);
  } finally {
    running = false;
    await Promise.all(clients);
  }
  return seen;
}

async function publish(date: string, runId: number, action: 'publish' | 'rollback' = 'publish'): Promise<number> {
  const c = await t.db.pool.connect();
  try {
    await publishRun(c, { job: fx.job, date, runId, action, lockTimeoutMs: 2_000 });
    return performance.now();
  } finally {
    c.release();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const users = () => fx.users.get(d1)!.ids.slice(0, 64);
const latest = () => users().map((u) => `/v1/jobs/${fx.job}/users/${u}/recommendations`);
const onDate = (d: string) => users().map((u) => `/v1/jobs/${fx.job}/users/${u}/recommendations?date=${d}`);

beforeAll(async () => {
  t = await createTestDb('serve_shedding');
  fx = await makeFixture({
    name: 'shed',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 40,
    k: 5,
    dates: [d1, d2],
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  runA = (await predict({ job: fx.job, date: d1, config, db: t.db, log })).runId;
  runA2 = (await predict({ job: fx.job, date: d1, config, db: t.db, log, shadow: true })).runId;
  // d2 with 20,000 users: about 2.4 MB by serve's estimate, over a 2 MB budget that A (about 1 MB) fits.
  const rows = Array.from({ length: 20_000 }, (_, i) => ({
    id: userIdFor('int', i),
    features: fx.featureNames.map((_, j) => Math.sin(i * 0.37 + j)),
  }));
  const opts = { idType: 'int' as const, featureMode: 'columns' as const, featureNames: fx.featureNames };
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-0.parquet'), rows, opts);
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-1.parquet'), [], opts);
  // shadow: written and never published by predict; the test publishes each at the moment it chooses
  runB = (await predict({ job: fx.job, date: d2, config, db: t.db, log, shadow: true })).runId;
  runB2 = (await predict({ job: fx.job, date: d2, config, db: t.db, log, shadow: true })).runId;
  server = await startTestServer(t.url, fx.root, { memoryBudgetMb: 2, pointerPollMs: 600_000 });
  for (const until = Date.now() + 15_000; !server.served.current(fx.job, null); await pause(10)) expect(Date.now()).toBeLessThan(until);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

describe('under 64 concurrent lookups', () => {
  it('no answer carries A once B, over the memory budget, is published', async () => {
    let firstB = Number.POSITIVE_INFINITY;
    const seen = await hammer(latest, async (seen) => {
      await pause(300);
      await publish(d2, runB);
      for (const until = Date.now() + 10_000; ; await pause(5)) {
        expect(Date.now()).toBeLessThan(until);
        const b = seen.find((s) => s.runId === runB);
        if (b) {
          firstB = b.received;
          break;
        }
      }
      await pause(1_500);
    });
    const after = seen.filter((s) => s.sent > firstB);
    expect(seen.filter((s) => s.runId === runA).length).toBeGreaterThan(0); // A answered before
    expect(after.length).toBeGreaterThan(200);
    expect(after.filter((s) => s.runId !== runB)).toEqual([]);
    expect(server.served.current(fx.job, null)).toBeUndefined(); // B is not held: PostgreSQL answers
  }, 60_000);

  it('?date= of a republished date never answers from the run it replaced', async () => {
    let committed = Number.POSITIVE_INFINITY;
    const seen = await hammer(
      () => onDate(d1),
      async () => {
        await pause(300);
        committed = await publish(d1, runA2);
        await pause(1_500);
      },
    );
    const after = seen.filter((s) => s.sent > committed);
    expect(after.length).toBeGreaterThan(200);
    expect(after.filter((s) => s.runId !== runA2)).toEqual([]);
  }, 60_000);

  it('a rollback to a run not in memory answers from that run, never from the run rolled back or another date', async () => {
    await publish(d2, runB2);
    let committed = Number.POSITIVE_INFINITY;
    const seen = await hammer(latest, async () => {
      await pause(300);
      committed = await publish(d2, runB, 'rollback');
      await pause(1_500);
    });
    // the pointer is learnt by NOTIFY and a re-read: give it 200 ms past the commit
    const after = seen.filter((s) => s.sent > committed + 200);
    expect(after.length).toBeGreaterThan(200);
    expect(after.filter((s) => s.runId !== runB)).toEqual([]);
  }, 60_000);
});
