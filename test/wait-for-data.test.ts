// Late data waits instead of failing (schedule.wait_for_data), with real runs (child processes) on a real
// PostgreSQL: a date whose files are not there is 'waiting' in the ledger and the metrics, and publishes
// when its files appear during the wait; past the timeout it fails as late, exit 7.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import client from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { ExitCode } from '../src/errors.ts';
import { jobGauges } from '../src/metrics/job-metrics.ts';
import { exitCodeFor } from '../src/schedule/date-outcome.ts';
import { Scheduler } from '../src/schedule/scheduler.ts';
import { readJobFigures } from '../src/store/job-figures.ts';
import { showRuns } from '../src/store/ledger.ts';
import { migrate } from '../src/store/migrate.ts';
import { startWaiting } from '../src/store/waiting-runs.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let t: TestDb;
let fx: Fixture;
const d1 = '2026-11-20';
const d2 = '2026-11-21';
// the 02:00 tick of the 22nd scores the 21st; start_date keeps the catch-up to d1 and d2
const clock = { now: () => new Date('2026-11-22T03:00:00Z') };

beforeAll(async () => {
  t = await createTestDb('wait_for_data');
  await migrate(t.db.pool);
  fx = await makeFixture({
    name: 'late',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 100,
    items: 40,
    dates: [d1, d2],
    job: { schedule: { cron: '0 2 * * *', catchup_days: 5, start_date: d1, wait_for_data: { timeout_seconds: 60, poll_seconds: 1 } } },
  });
});
afterAll(async () => {
  await t?.drop();
});

async function runsOf(date: string) {
  const { rows } = await t.db.pool.query<{ run_id: string; status: string; error: string | null; timings: Record<string, number> }>(
    'select run_id, status, error, timings from batchcast.runs where job = $1 and prediction_date = $2 order by run_id',
    [fx.job, date],
  );
  return rows;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('wait_for_data', () => {
  it('a late partition waits, visible in the ledger and the metrics, then publishes when its files appear', async () => {
    const folder = path.join(fx.featuresDir, `dt=${d2}`);
    const away = path.join(fx.root, 'not-yet');
    renameSync(folder, away);
    const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
    const scheduler = new Scheduler({ config, db: t.db, log, wake: 'manual', clock });
    try {
      const pass = scheduler.start();
      const waiting = await until('a waiting row', async () => (await runsOf(d2)).find((r) => r.status === 'waiting'));
      // `batchcast runs --status waiting` shows it
      expect((await showRuns(t.db, { job: fx.job, status: 'waiting' })).map((r) => [r.prediction_date, r.status])).toEqual([
        [d2, 'waiting'],
      ]);
      // the metrics show it: batchcast_job_runs{status="waiting"} 1
      const registry = new client.Registry();
      jobGauges(registry, await readJobFigures(t.db.pool, { job: fx.job }), { lastSuccess: false });
      expect(await registry.metrics()).toContain(`batchcast_job_runs{batchcast_job="${fx.job}",status="waiting"} 1`);
      await new Promise((r) => setTimeout(r, 1500)); // still waiting after a poll or two, not failed
      expect((await runsOf(d2)).map((r) => r.status)).toEqual(['waiting']);
      renameSync(away, folder); // the upstream export lands
      const [result] = await pass;
      expect(result.outcomes.map((o) => [o.date, o.status])).toEqual([
        [d1, 'succeeded'],
        [d2, 'succeeded'],
      ]);
      const rows = await runsOf(d2);
      expect(rows.map((r) => r.status)).toEqual(['succeeded']); // the waiting row gave way to the run
      expect(Number(rows[0].run_id)).not.toBe(Number(waiting.run_id));
      expect(rows[0].timings.wait_for_data).toBeGreaterThan(1000);
      const { rows: published } = await t.db.pool.query('select run_id from batchcast.published where job = $1 and prediction_date = $2', [
        fx.job,
        d2,
      ]);
      expect(Number(published[0].run_id)).toBe(Number(rows[0].run_id));
    } finally {
      await scheduler.stop();
    }
  }, 120_000);

  it('a waiting row left by a scheduler that died, for a date since run by hand, goes at the next pass', async () => {
    const stale = await startWaiting(t.db.pool, fx.job, d1); // d1 succeeded in the test above
    expect((await runsOf(d1)).map((r) => r.status)).toEqual(['succeeded', 'waiting']);
    const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
    const scheduler = new Scheduler({ config, db: t.db, log, wake: 'manual', clock });
    try {
      await scheduler.start();
    } finally {
      await scheduler.stop();
    }
    expect((await runsOf(d1)).map((r) => Number(r.run_id))).not.toContain(stale.runId);
  }, 60_000);

  it('past the timeout the date fails as late, with its own exit code', async () => {
    const d3 = '2026-11-22';
    const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
    const scheduler = new Scheduler({
      config,
      db: t.db,
      log,
      wake: 'manual',
      clock: { now: () => new Date('2026-11-23T03:00:00Z') },
      jobs: [fx.job],
    });
    // a timeout of 2 s for this pass: the job file is re-read at start
    const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
    writeFileSync(
      fx.jobFile,
      JSON.stringify({ ...job, schedule: { ...job.schedule, wait_for_data: { timeout_seconds: 2, poll_seconds: 1 } } }),
    );
    try {
      const started = Date.now();
      const [result] = await scheduler.start();
      const late = result.outcomes.find((o) => o.date === d3)!;
      expect(late).toMatchObject({ status: 'failed', exitCode: ExitCode.late });
      expect(late.note).toMatch(/^late: no files for 2026-11-22 under .*dt=\*\/\*\.parquet after waiting 2 s/);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(exitCodeFor(result.outcomes)).toBe(7);
      const rows = await runsOf(d3);
      expect(rows.map((r) => r.status)).toEqual(['failed']);
      expect(rows[0].error).toContain('late: no files for 2026-11-22');
    } finally {
      await scheduler.stop();
    }
  }, 60_000);
});
