// Online scoring after its inference worker dies: the worker thread is really stopped (worker.terminate(),
// as an out-of-memory abort or a native fault would end it). The scorer is retired and the next request
// starts a new one that answers exactly as before, instead of every request failing (500) from then on.
import client from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobDefinition } from '../src/jobs/load-job.ts';
import { loadJob } from '../src/jobs/load-job.ts';
import { OnlineScoring } from '../src/serve/scoring/online-scoring.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { type Published, publishFixture, recordingLogger } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let job: JobDefinition;
let scoring: OnlineScoring;
const logged = recordingLogger();

beforeAll(async () => {
  t = await createTestDb('score_worker');
  pub = await publishFixture(t, { name: 'scorekill', users: 50, items: 30, k: 4 });
  job = loadJob(pub.fx.jobsDir, pub.fx.job);
  scoring = new OnlineScoring({
    pool: t.db.pool,
    timeoutMs: 2_000,
    log: logged,
    registry: new client.Registry(),
    workers: 1,
    maxQueued: 100,
  });
}, 120_000);
afterAll(async () => {
  await scoring?.close();
  await t?.drop();
});

const features = () => Float32Array.from(pub.fx.users.get(pub.date)!.features[7]);
const score = async () => {
  const r = await (await scoring.scorer(job)).batcher.score('u7', features());
  if (!r.ok) throw new Error('bad row');
  return { indices: Array.from(r.indices), values: Array.from(r.values) };
};

it('a killed inference worker is replaced, and scoring answers as before', async () => {
  const before = await score();
  const first = await scoring.scorer(job);
  const [thread] = first.pool.threads;
  const exited = new Promise((resolve) => thread.once('exit', resolve));
  await thread.terminate();
  await exited;
  // at most the request already sent to the dead worker fails; the next ones get a new scorer
  const after = await score().catch(() => score());
  expect(after).toEqual(before);
  const second = await scoring.scorer(job);
  expect(second).not.toBe(first);
  expect(second.pool.threads[0].threadId).not.toBe(thread.threadId);
  for (let i = 0; i < 20; i++) expect(await score()).toEqual(before);
  expect(
    logged.lines.some(
      (l) => l.level === 'error' && /scoring for job scorekill: inference worker 0 exited .*a new scorer starts/.test(l.msg),
    ),
  ).toBe(true);
}, 60_000);
