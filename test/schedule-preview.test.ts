// `batchcast schedule --dry-run` through the CLI: per job, the dates a pass would run now and the next
// runs, catch-up bounded by schedule.start_date (or, by default, the earliest date with data), and nothing
// written. Dates are relative to today: the CLI runs on the real clock. The cron fires at 00:00 UTC, so
// its latest tick has always passed and scores yesterday.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, dateRange } from '../src/dates.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

const today = new Date().toISOString().slice(0, 10);
const yesterday = addDays(today, -1);
let t: TestDb;
let fx: Fixture;

beforeAll(async () => {
  t = await createTestDb('schedule_preview');
  fx = await makeFixture({
    name: 'nightly',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 50,
    items: 20,
    // data from 5 days ago; the day before yesterday is missing
    dates: [addDays(today, -5), addDays(today, -4), addDays(today, -3), yesterday],
    job: { schedule: { cron: '0 0 * * *', catchup_days: 10, start_date: addDays(today, -4) } },
  });
});
afterAll(async () => {
  await t?.drop();
});

const preview = (extra: string[] = []) =>
  runCli(['schedule', '--dry-run', '--json', ...extra], { DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, BATCHCAST_LOG_LEVEL: 'warn' });

function setSchedule(schedule: Record<string, unknown>): void {
  const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
  writeFileSync(fx.jobFile, JSON.stringify({ ...job, schedule }));
}

describe('schedule --dry-run', () => {
  it('lists catch-up dates no earlier than start_date, which files are there, and the next runs; runs nothing', async () => {
    const r = await preview();
    expect(r.code, r.stderr).toBe(0);
    const [p] = JSON.parse(r.stdout);
    expect(p.job).toBe('nightly');
    expect(p.start).toEqual({ date: addDays(today, -4), from: 'job file' });
    // without start_date, catch_up_days 10 would reach back to 10 days ago
    expect(p.catchUp.map((d: { date: string }) => d.date)).toEqual(dateRange(addDays(today, -4), yesterday));
    expect(p.catchUp.every((d: { date: string }) => d.date >= addDays(today, -4))).toBe(true);
    expect(p.catchUp.find((d: { date: string }) => d.date === addDays(today, -2))).toMatchObject({
      action: 'run',
      files: false,
      note: 'no files yet: would fail',
    });
    expect(p.catchUp.find((d: { date: string }) => d.date === yesterday)).toMatchObject({ action: 'run', files: true });
    expect(p.next[0]).toEqual({ at: `${addDays(today, 1)}T00:00:00.000Z`, date: today });
    expect(p.next).toHaveLength(3);
    // not even migrated: a preview writes nothing
    const { rows } = await t.db.pool.query(`select to_regclass('batchcast.runs') is null as untouched`);
    expect(rows[0].untouched).toBe(true);
  });

  it('without start_date, starts at the earliest date with data on disk; says how a missing date will wait', async () => {
    setSchedule({ cron: '0 0 * * *', catchup_days: 10, wait_for_data: { timeout_seconds: 3600, poll_seconds: 30 } });
    const [p] = JSON.parse((await preview()).stdout);
    expect(p.start).toEqual({ date: addDays(today, -5), from: 'earliest data' });
    expect(p.catchUp[0].date).toBe(addDays(today, -5));
    expect(p.catchUp.find((d: { date: string }) => d.date === addDays(today, -2)).note).toBe(
      'no files yet: waits up to 3600 s, looking every 30 s',
    );
  });

  it('a job with no data on disk and no run yet catches nothing up: it starts at its latest tick', async () => {
    const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
    writeFileSync(
      path.join(fx.jobsDir, 'empty.json'),
      JSON.stringify({
        ...job,
        features: { ...job.features, path: 'data/none/dt=*/*.parquet' },
        schedule: { cron: '0 0 * * *', catchup_days: 10 },
      }),
    );
    const r = await preview(['--job', 'empty']);
    expect(r.code, r.stderr).toBe(0);
    const [p] = JSON.parse(r.stdout);
    expect(p.start).toEqual({ date: yesterday, from: 'first run' });
    expect(p.catchUp).toEqual([{ date: yesterday, action: 'run', files: false, note: 'no files yet: would fail' }]);
  });

  it('prints a table a person can read', async () => {
    const r = await runCli(['schedule', '--dry-run', '--job', 'nightly'], {
      DATABASE_URL: t.url,
      BATCHCAST_ROOT: fx.root,
      BATCHCAST_LOG_LEVEL: 'warn',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `job nightly: "0 0 * * *" UTC, catch-up 10 day(s), starts ${addDays(today, -5)} (the earliest date with data)`,
    );
    expect(r.stdout).toMatch(new RegExp(`${addDays(today, -2)}\\s+run\\s+no\\s+no files yet: waits up to 3600 s`));
    expect(r.stdout).toContain(`${addDays(today, 1)} 00:00 UTC  scores ${today}`);
    expect(r.stdout).toContain('nothing was run: this is a preview');
    const next = await runCli(['schedule', 'next', '--job', 'nightly'], {
      DATABASE_URL: t.url,
      BATCHCAST_ROOT: fx.root,
      BATCHCAST_LOG_LEVEL: 'warn',
    });
    expect(next.stdout).toBe(r.stdout);
  });
});
