// A held date needs a person: backfill and the scheduler report it (status held, exit code 6) and do not run
// it again on every tick or rerun; `batchcast runs` shows it held with the gate that held it.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { backfill } from '../src/schedule/backfill.ts';
import { exitCodeFor, failureSummary } from '../src/schedule/date-outcome.ts';
import { Scheduler } from '../src/schedule/scheduler.ts';
import { showRuns } from '../src/store/ledger.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const [d1, d2] = ['2026-11-21', '2026-11-22'];
let t: TestDb;
let fx: Fixture;
let config: Config;

async function runCount(): Promise<number> {
  const { rows } = await t.db.pool.query<{ n: number }>('select count(*)::int as n from batchcast.runs where job = $1', [fx.job]);
  return rows[0].n;
}

beforeAll(async () => {
  t = await createTestDb('guard_schedule');
  fx = await makeFixture({
    name: 'heldjob',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 50,
    dates: [d1, d2],
    job: { schedule: { cron: '0 2 * * *', catchup_days: 3 } },
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  expect((await predict({ job: fx.job, date: d1, config, db: t.db, log })).status).toBe('published');
  // d2's export has feature f0 in the wrong unit (x1000)
  const { ids, features } = fx.users.get(d2)!;
  const rows = ids.map((id, i) => ({ id, features: Array.from(features[i]).map((v, j) => (j === 0 ? v * 1000 : v)) }));
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-0.parquet'), rows.slice(0, 150), {
    idType: 'int',
    featureMode: 'columns',
    featureNames: fx.featureNames,
  });
  await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-1.parquet'), rows.slice(150), {
    idType: 'int',
    featureMode: 'columns',
    featureNames: fx.featureNames,
  });
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

describe('a held date needs a person', () => {
  it('backfill runs it once, reports it held with exit code 6, and does not rerun it', async () => {
    const first = await backfill({
      job: fx.job,
      from: d1,
      to: d2,
      concurrency: 1,
      reprocess: 'none',
      dryRun: false,
      backwards: false,
      config,
      db: t.db,
      log,
    });
    expect(first.dates.map((o) => [o.date, o.status])).toEqual([
      [d1, 'skipped'],
      [d2, 'held'],
    ]);
    expect(first.dates[1].exitCode).toBe(6);
    expect(first.exitCode).toBe(6);
    expect(failureSummary(first.dates)).toMatch(/1 of 2 date\(s\) held back by a gate and need a person: 2026-11-22 \(held, exit 6\)/);
    const runs = await showRuns(t.db, { job: fx.job, date: d2 });
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('held');
    expect(runs[0].published).toBe(false);
    expect(runs[0].error).toMatch(
      /held: gate max_feature_scale_ratio = .*\(feature f0 x\d+\), threshold 5; .*batchcast publish --run \d+ --reason/,
    );

    const before = await runCount();
    const again = await backfill({
      job: fx.job,
      from: d1,
      to: d2,
      concurrency: 1,
      reprocess: 'none',
      dryRun: false,
      backwards: false,
      config,
      db: t.db,
      log,
    });
    expect(again.dates[1]).toMatchObject({ status: 'held', runId: runs[0].run_id, exitCode: 6 });
    expect(again.dates[1].note).toMatch(/needs a person/);
    expect(await runCount()).toBe(before);
  }, 120_000);

  it('the scheduler does not retry it on every tick, and says so', async () => {
    const before = await runCount();
    const s = new Scheduler({ config, db: t.db, log, wake: 'manual', clock: { now: () => new Date('2026-11-23T03:00:00Z') } });
    const passes = await s.start();
    await s.stop();
    const outcomes = passes.flatMap((p) => p.outcomes);
    expect(outcomes.map((o) => [o.date, o.status])).toEqual([[d2, 'held']]);
    expect(exitCodeFor(outcomes)).toBe(6);
    expect(await runCount()).toBe(before);
  }, 60_000);
});
