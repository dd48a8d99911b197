// Generations: a rerun replaces the published one atomically, a failed run publishes nothing and leaves
// no table, and two concurrent runs of one (job, date) do the work once while other dates proceed.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { BadInputError, LockBusyError } from '../src/errors.ts';
import { loadJob } from '../src/jobs/load-job.ts';
import { type PredictResult, predict } from '../src/run/predict.ts';
import { listRuns } from '../src/store/ledger.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let t: TestDb;
let fx: Fixture;
let config: Config;
const dates = ['2026-11-18', '2026-11-19', '2026-11-20'];

beforeAll(async () => {
  t = await createTestDb('runs');
  fx = await makeFixture({ name: 'runs', idType: 'int', output: 'top_k', featureMode: 'columns', users: 3000, items: 200, dates });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, chunkRows: 256 }, {});
});
afterAll(async () => {
  await t?.drop();
});

async function published(date: string): Promise<number | undefined> {
  const { rows } = await t.db.pool.query('select run_id from batchcast.published where job = $1 and prediction_date = $2', [fx.job, date]);
  return rows[0]?.run_id;
}

async function tableExists(runId: number): Promise<boolean> {
  const { rows } = await t.db.pool.query('select to_regclass($1) is not null as ok', [`batchcast.predictions_r${runId}`]);
  return rows[0].ok;
}

async function servedRows(date: string): Promise<{ user_id: string; item_id: string; rank: number; run_id: number }[]> {
  const { rows } = await t.db.pool.query(
    'select user_id, item_id, rank, run_id from batchcast.recommendations where job = $1 and prediction_date = $2 order by user_id, rank',
    [fx.job, date],
  );
  return rows;
}

describe('generations', () => {
  it('a rerun creates a new generation that replaces the old one; same inputs, same results', async () => {
    const first = await predict({ job: fx.job, date: dates[0], config, db: t.db, log });
    const before = await servedRows(dates[0]);
    expect(new Set(before.map((r) => r.run_id))).toEqual(new Set([first.runId]));
    expect(before.length).toBe(3000 * fx.k);

    const second = await predict({ job: fx.job, date: dates[0], config, db: t.db, log });
    expect(second.runId).toBeGreaterThan(first.runId);
    expect(second.previousRunId).toBe(first.runId);
    expect(await published(dates[0])).toBe(second.runId);
    const after = await servedRows(dates[0]);
    expect(new Set(after.map((r) => r.run_id))).toEqual(new Set([second.runId]));
    // deterministic: the same (user, rank) -> item
    expect(after.map((r) => `${r.user_id}/${r.rank}/${r.item_id}`)).toEqual(before.map((r) => `${r.user_id}/${r.rank}/${r.item_id}`));
    // the previous generation stays until retention drops it: instant rollback stays possible
    expect(await tableExists(first.runId)).toBe(true);
    const runs = await listRuns(t.db.pool, { job: fx.job, date: dates[0] });
    expect(runs.map((r) => [r.run_id, r.status, r.published])).toEqual([
      [second.runId, 'succeeded', true],
      [first.runId, 'succeeded', false],
    ]);
    expect(runs[0].model_version).toBe('runs-v1');
    expect(runs[0].model_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(runs[0].input_files).toHaveLength(2);
    expect(runs[0].rows_written).toBe(3000);
    expect(Object.keys(runs[0].timings)).toEqual(expect.arrayContaining(['stream', 'index', 'attach', 'publish', 'total']));
  });

  it('retention keeps `keep` generations per date and drops the rest without touching the published one', async () => {
    const job = { ...loadJob(fx.jobsDir, fx.job, fx.root), retention: { keep: 2 } };
    const runs: PredictResult[] = [];
    for (let i = 0; i < 3; i++) runs.push(await predict({ job, date: dates[1], config, db: t.db, log }));
    expect(await published(dates[1])).toBe(runs[2].runId);
    expect(await tableExists(runs[2].runId)).toBe(true);
    expect(await tableExists(runs[1].runId)).toBe(true);
    expect(await tableExists(runs[0].runId)).toBe(false);
    const pruned = await listRuns(t.db.pool, { job: fx.job, date: dates[1] });
    expect(pruned.find((r) => r.run_id === runs[0].runId)!.pruned_at).not.toBeNull();
  });

  it('a failed run publishes nothing, is marked failed with the reason, and leaves no table', async () => {
    const good = await predict({ job: fx.job, date: dates[2], config, db: t.db, log });
    const served = await servedRows(dates[2]);
    // Corrupt one of the two files: the run must fail and the previous generation stay served.
    const file = path.join(fx.featuresDir, `dt=${dates[2]}`, 'part-1.parquet');
    writeFileSync(file, 'not a parquet file at all');
    const err = await predict({ job: fx.job, date: dates[2], config, db: t.db, log }).catch((e) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toContain(`job ${fx.job}, date ${dates[2]}`);
    expect(err.message).toContain('part-1.parquet');
    expect(await published(dates[2])).toBe(good.runId);
    expect(await servedRows(dates[2])).toEqual(served);
    const [failed] = await listRuns(t.db.pool, { job: fx.job, date: dates[2], status: 'failed' });
    expect(failed.error).toContain('part-1.parquet');
    expect(await tableExists(failed.run_id)).toBe(false);

    // A missing partition fails the same way, before any table exists.
    rmSync(path.join(fx.featuresDir, `dt=${dates[2]}`), { recursive: true });
    const missing = await predict({ job: fx.job, date: dates[2], config, db: t.db, log }).catch((e) => e);
    expect(missing).toBeInstanceOf(BadInputError);
    expect(missing.message).toMatch(/no features partition/);
    expect(await published(dates[2])).toBe(good.runId);
  });

  it('a failure in the middle of the stream (a NaN feature) drops the half-written table', async () => {
    const date = '2026-11-21';
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      id: String(i + 1),
      features: fx.featureNames.map((_, j) => ((i * 7 + j) % 13) / 13) as (number | null)[],
    }));
    rows[1700].features[3] = null;
    await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, 'part-0.parquet'), rows, {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
    const err = await predict({ job: fx.job, date, config, db: t.db, log }).catch((e) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toContain('user 1701');
    expect(err.message).toContain('f3');
    expect(err.message).toContain('part-0.parquet');
    expect(await published(date)).toBeUndefined();
    const [failed] = await listRuns(t.db.pool, { job: fx.job, date });
    expect(failed.status).toBe('failed');
    expect(await tableExists(failed.run_id)).toBe(false);
  });

  it('two concurrent runs of one (job, date) do the work once; another date is not blocked', async () => {
    const date = dates[0];
    const before = await published(date);
    const [a, b, other] = await Promise.allSettled([
      predict({ job: fx.job, date, config, db: t.db, log }),
      predict({ job: fx.job, date, config, db: t.db, log }),
      predict({ job: fx.job, date: dates[1], config, db: t.db, log }),
    ]);
    const outcomes = [a, b];
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const busy = outcomes.filter((o) => o.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(busy).toHaveLength(1);
    const reason = (busy[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(LockBusyError);
    expect(reason.exitCode).toBe(3);
    expect(reason.message).toContain(`job ${fx.job}, date ${date}: another run holds the lock`);
    expect(other.status).toBe('fulfilled');
    const winner = (ok[0] as PromiseFulfilledResult<{ runId: number }>).value.runId;
    expect(await published(date)).toBe(winner);
    expect(winner).not.toBe(before);
    // the loser never created a ledger row: it did nothing
    const runs = await listRuns(t.db.pool, { job: fx.job, date });
    expect(runs.filter((r) => r.run_id > before!)).toHaveLength(1);
  });
});
