// `batchcast schedule` as real processes on the real clock: two schedulers on one database run each date
// once, and SIGTERM stops ticking, lets the run in progress finish, and exits 0.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, yesterday } from '../src/dates.ts';
import { migrate } from '../src/store/migrate.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');

let t: TestDb;
// The daily 00:00 UTC tick of today scores yesterday; catch-up 2 adds the two days before.
const y = yesterday();
const dates = [addDays(y, -2), addDays(y, -1), y];
const schedule = { cron: '0 0 * * *', timezone: 'UTC', catchup_days: 2 };

beforeAll(async () => {
  t = await createTestDb('schedule_processes');
  await migrate(t.db.pool);
});
afterAll(async () => {
  await t?.drop();
});

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startScheduler(fx: Fixture, env: Record<string, string> = {}, args: string[] = []): Proc {
  const child = spawn(process.execPath, [bin, 'schedule', ...args], {
    env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function runs(job: string): Promise<{ date: string; status: string }[]> {
  const { rows } = await t.db.pool.query(
    `select prediction_date::text as date, status from batchcast.runs where job = $1 order by prediction_date, run_id`,
    [job],
  );
  return rows;
}

describe('batchcast schedule processes', () => {
  it('two schedulers on one database run each date once', async () => {
    const fx = await makeFixture({
      name: 'twice',
      idType: 'int',
      output: 'top_k',
      featureMode: 'columns',
      users: 300,
      items: 50,
      dates,
      job: { schedule },
    });
    const a = startScheduler(fx);
    const b = startScheduler(fx);
    try {
      await until('three succeeded runs', async () => (await runs(fx.job)).filter((r) => r.status === 'succeeded').length === 3);
      // Both have finished their start-up pass once neither holds a claim; give the slower one a moment.
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(await runs(fx.job)).toEqual(dates.map((date) => ({ date, status: 'succeeded' })));
    // Each scheduler ran some dates and left the others to the other one (the claim), or found them done.
    const stderr = a.stderr() + b.stderr();
    expect(stderr).not.toMatch(/"level":50/);
  });

  it('SIGTERM stops ticking, waits for the run in progress, and exits 0', async () => {
    // 10,000 users: a run of about a second, long enough to be caught in the middle (polled every 50 ms).
    const fx = await makeFixture({
      name: 'graceful',
      idType: 'int',
      output: 'top_k',
      featureMode: 'columns',
      users: 10_000,
      items: 50,
      dates,
      job: { schedule },
    });
    const a = startScheduler(fx, { BATCHCAST_SCHEDULE_GRACE_MS: '60000' });
    await until('a run in progress', async () => (await runs(fx.job)).some((r) => r.status === 'running'));
    const signalled = Date.now();
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const stopMs = Date.now() - signalled;
    // The run it had started finished and was published; no new date was started after SIGTERM.
    expect(await runs(fx.job)).toEqual([{ date: dates[0], status: 'succeeded' }]);
    expect(a.stderr()).toMatch(/SIGTERM: stopping the scheduler/);
    expect(a.stderr()).toMatch(/waiting up to 60 s for the run in progress to finish/);
    expect(stopMs).toBeLessThan(60_000);

    // The next scheduler catches up the rest.
    const b = startScheduler(fx);
    try {
      await until('all dates succeeded', async () => (await runs(fx.job)).filter((r) => r.status === 'succeeded').length === 3);
    } finally {
      b.child.kill('SIGTERM');
    }
    expect(await b.exited).toBe(0);
    expect(await runs(fx.job)).toEqual(dates.map((date) => ({ date, status: 'succeeded' })));
  }, 90_000);

  it('--once runs what is due, prints the table and exits with the batch exit code (for system cron)', async () => {
    // No features for the middle date (a hole in the exports): it fails with bad input, the two others
    // succeed. (A date before the first one with data is not due at all: schedule-preview.test.)
    const fx = await makeFixture({
      name: 'once',
      idType: 'int',
      output: 'top_k',
      featureMode: 'columns',
      users: 300,
      items: 50,
      dates: [dates[0], dates[2]],
      job: { schedule },
    });
    const first = startScheduler(fx, {}, ['--once']);
    expect(await first.exited).toBe(2);
    expect(first.stdout()).toMatch(new RegExp(`^${dates[1]}\\s+failed\\s+.*no features partition`, 'm'));
    expect(first.stdout()).toMatch(new RegExp(`^${dates[2]}\\s+succeeded\\s+\\d+\\s+300\\s`, 'm'));
    expect(first.stderr()).toContain(`batchcast: 1 of 3 date(s) not done: ${dates[1]} (failed, exit 2)`);
    const second = startScheduler(fx, {}, ['--once']);
    expect(await second.exited).toBe(0);
    expect(second.stdout()).toBe('nothing was due\n');
  });
});
