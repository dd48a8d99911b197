// The scheduler under a fake clock, with real runs (child processes) on a real PostgreSQL: missed ticks are
// caught up exactly once per date, a clock stepped back runs nothing again, and DST in Europe/Berlin gives
// one run per date on the spring-forward and fall-back days.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { type Clock, type PassResult, Scheduler } from '../src/schedule/scheduler.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let t: TestDb;
let daily: Fixture;
let dst: Fixture;

class FakeClock implements Clock {
  constructor(private ms: number) {}
  now() {
    return new Date(this.ms);
  }
  set(iso: string) {
    this.ms = Date.parse(iso);
  }
}

beforeAll(async () => {
  t = await createTestDb('schedule_catchup');
  daily = await makeFixture({
    name: 'daily',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 200,
    items: 50,
    dates: ['2026-11-21', '2026-11-22', '2026-11-23', '2026-11-24', '2026-11-25'],
    job: { schedule: { cron: '0 2 * * *', catchup_days: 2 } },
  });
  dst = await makeFixture({
    name: 'berlin',
    idType: 'string',
    output: 'scores',
    featureMode: 'list',
    users: 200,
    items: 50,
    dates: ['2026-03-27', '2026-03-28', '2026-10-24'],
    job: { schedule: { cron: '30 2 * * *', timezone: 'Europe/Berlin', catchup_days: 0 } },
  });
});
afterAll(async () => {
  await t?.drop();
});

async function runsPerDate(job: string): Promise<Record<string, string[]>> {
  const { rows } = await t.db.pool.query<{ date: string; statuses: string[] }>(
    `select prediction_date::text as date, array_agg(status order by run_id) as statuses
       from batchcast.runs where job = $1 group by 1 order by 1`,
    [job],
  );
  return Object.fromEntries(rows.map((r) => [r.date, r.statuses]));
}

const ran = (passes: PassResult[]) =>
  passes.flatMap((p) => p.outcomes.filter((o) => o.status !== 'skipped').map((o) => `${o.date} ${o.status}`));

function scheduler(fx: Fixture, clock: Clock): Scheduler {
  const config = loadConfig({ databaseUrl: t.url, root: fx.root }, {});
  return new Scheduler({ config, db: t.db, log, clock, wake: 'manual' });
}

describe('catch-up with a fake clock', () => {
  it('runs each missed date exactly once, whatever the wake-ups', async () => {
    // Down since before the 22nd's tick; catch_up 2 days back from the latest date (the 23rd).
    const clock = new FakeClock(Date.parse('2026-11-24T03:00:00Z'));
    const s = scheduler(daily, clock);
    expect(ran(await s.start())).toEqual(['2026-11-21 succeeded', '2026-11-22 succeeded', '2026-11-23 succeeded']);
    // The same tick again (node-cron and the watchdog both firing): nothing.
    expect(ran(await s.check('tick'))).toEqual([]);

    // node-cron "missed" the 25th's tick under load; the next wake-up, on the 26th, catches up both dates.
    clock.set('2026-11-26T02:00:05Z');
    expect(ran(await s.check('tick'))).toEqual(['2026-11-24 succeeded', '2026-11-25 succeeded']);

    // A restart re-reads the ledger: nothing is left.
    const restarted = scheduler(daily, clock);
    expect(ran(await restarted.start())).toEqual([]);
    await restarted.stop();

    // The clock jumps back two days (NTP step, VM restore): no date runs again.
    clock.set('2026-11-24T02:00:05Z');
    expect(ran(await s.check('tick'))).toEqual([]);
    expect(ran(await s.check('startup'))).toEqual([]);
    await s.stop();

    expect(await runsPerDate(daily.job)).toEqual({
      '2026-11-21': ['succeeded'],
      '2026-11-22': ['succeeded'],
      '2026-11-23': ['succeeded'],
      '2026-11-24': ['succeeded'],
      '2026-11-25': ['succeeded'],
    });
    const { rows } = await t.db.pool.query('select count(*)::int as n from batchcast.published where job = $1', [daily.job]);
    expect(rows[0].n).toBe(5);
  });

  it('a failed date is retried at the next tick, not at every wake-up of the same tick', async () => {
    const clock = new FakeClock(Date.parse('2026-11-27T02:00:01Z')); // the 26th has no features: it fails
    const s = scheduler(daily, clock);
    const first = await s.start();
    expect(first[0].outcomes.map((o) => [o.date, o.status, o.exitCode])).toEqual([['2026-11-26', 'failed', 2]]);
    expect(first[0].outcomes[0].note).toMatch(/job daily, date 2026-11-26: no features partition/);
    expect(ran(await s.check('watchdog'))).toEqual([]);
    clock.set('2026-11-28T02:00:01Z');
    expect(ran(await s.check('tick'))).toEqual(['2026-11-26 failed', '2026-11-27 failed']);
    await s.stop();
  });
});

describe('daylight saving time in Europe/Berlin, cron 30 2 * * *', () => {
  it('spring forward: the 02:30 that does not exist runs once, at 03:30 CEST', async () => {
    const clock = new FakeClock(Date.parse('2026-03-28T01:31:00Z')); // 02:31 CET on the 28th
    const s = scheduler(dst, clock);
    expect(ran(await s.start())).toEqual(['2026-03-27 succeeded']);
    clock.set('2026-03-29T01:29:00Z'); // 03:29 CEST on the 29th: 02:30 never happened, 03:30 not yet
    expect(ran(await s.check('tick'))).toEqual([]);
    clock.set('2026-03-29T01:31:00Z'); // 03:31 CEST
    expect(ran(await s.check('tick'))).toEqual(['2026-03-28 succeeded']);
    clock.set('2026-03-29T02:31:00Z');
    expect(ran(await s.check('watchdog'))).toEqual([]);
    await s.stop();
  });

  it('fall back: the 02:30 that happens twice runs once', async () => {
    const clock = new FakeClock(Date.parse('2026-10-25T00:31:00Z')); // 02:31 CEST, first time
    const s = scheduler(dst, clock);
    expect(ran(await s.start())).toEqual(['2026-10-24 succeeded']);
    clock.set('2026-10-25T01:31:00Z'); // 02:31 CET, second time: node-cron fires again here
    expect(ran(await s.check('tick'))).toEqual([]);
    expect(ran(await s.check('startup'))).toEqual([]);
    await s.stop();
    expect(await runsPerDate(dst.job)).toEqual({ '2026-03-27': ['succeeded'], '2026-03-28': ['succeeded'], '2026-10-24': ['succeeded'] });
  });
});
