// Due dates are a pure function of the cron expression, the time zone, now and the last succeeded date.
// No database here: these are the rules the scheduler tests then check end to end.
import { createTask } from 'node-cron';
import { describe, expect, it } from 'vitest';
import { parseJob } from '../src/jobs/load-job.ts';
import { dueDates, latestTick, nextTick, type Schedule, ticksBetween } from '../src/schedule/ticks.ts';

const utc: Schedule = { cron: '0 2 * * *', timezone: 'UTC', catchupDays: 7 };
const berlin: Schedule = { cron: '30 2 * * *', timezone: 'Europe/Berlin', catchupDays: 7 };
const at = (iso: string) => new Date(iso);
const ticks = (s: Schedule, from: string, to: string) => ticksBetween(s, at(from), at(to)).map((t) => [t.at.toISOString(), t.date]);

describe('logical date', () => {
  it('comes from the tick, not from now: the 02:00 run on the 21st scores the 20th', () => {
    expect(latestTick(utc, at('2026-11-21T02:00:00Z'))).toEqual({ at: at('2026-11-21T02:00:00Z'), date: '2026-11-20' });
    // started hours late, still the 20th
    expect(latestTick(utc, at('2026-11-21T23:59:00Z'))?.date).toBe('2026-11-20');
    // one second before the tick: the previous one
    expect(latestTick(utc, at('2026-11-21T01:59:59Z'))?.date).toBe('2026-11-19');
    expect(nextTick(utc, at('2026-11-21T02:00:00Z'))).toEqual({ at: at('2026-11-22T02:00:00Z'), date: '2026-11-21' });
  });

  it('uses the wall-clock date of the job time zone', () => {
    const tokyo: Schedule = { cron: '0 1 * * *', timezone: 'Asia/Tokyo', catchupDays: 0 };
    // 01:00 in Tokyo on the 21st is 16:00 UTC on the 20th
    expect(latestTick(tokyo, at('2026-11-20T16:30:00Z'))).toEqual({ at: at('2026-11-20T16:00:00Z'), date: '2026-11-20' });
  });

  it('a weekly cron scores the day before its weekday', () => {
    const weekly: Schedule = { cron: '0 6 * * 1', timezone: 'America/New_York', catchupDays: 14 };
    expect(dueDates(weekly, at('2026-11-21T03:00:00Z'), undefined)).toEqual(['2026-11-01', '2026-11-08', '2026-11-15']);
  });
});

describe('catch-up window', () => {
  const now = at('2026-11-21T03:00:00Z');
  it('first start: the latest date and catchup_days before it', () => {
    expect(dueDates(utc, now, undefined)).toEqual([
      '2026-11-13',
      '2026-11-14',
      '2026-11-15',
      '2026-11-16',
      '2026-11-17',
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
    ]);
    expect(dueDates({ ...utc, catchupDays: 0 }, now, undefined)).toEqual(['2026-11-20']);
  });
  it('after downtime: only the dates since the last succeeded one', () => {
    expect(dueDates(utc, now, '2026-11-18')).toEqual(['2026-11-19', '2026-11-20']);
    expect(dueDates(utc, now, '2026-11-20')).toEqual([]);
  });
  it('a clock stepped back yields nothing already done', () => {
    expect(dueDates(utc, at('2026-11-15T03:00:00Z'), '2026-11-20')).toEqual([]);
  });
  it('several ticks a day still score each date once', () => {
    expect(dueDates({ cron: '*/15 * * * *', timezone: 'Europe/Berlin', catchupDays: 2 }, now, undefined)).toEqual([
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
    ]);
  });
});

describe('daylight saving time, Europe/Berlin, cron 30 2 * * *', () => {
  it('spring forward (2026-03-29, 02:00 -> 03:00): the 02:30 that does not exist runs at 03:30 CEST, once', () => {
    expect(ticks(berlin, '2026-03-27T00:00:00Z', '2026-03-31T00:00:00Z')).toEqual([
      ['2026-03-27T01:30:00.000Z', '2026-03-26'], // 02:30 CET
      ['2026-03-28T01:30:00.000Z', '2026-03-27'],
      ['2026-03-29T01:30:00.000Z', '2026-03-28'], // 03:30 CEST: later by the gap
      ['2026-03-30T00:30:00.000Z', '2026-03-29'], // 02:30 CEST
    ]);
  });

  it('fall back (2026-10-25, 03:00 -> 02:00): the 02:30 that happens twice runs at the first one only', () => {
    expect(ticks(berlin, '2026-10-23T00:00:00Z', '2026-10-27T00:00:00Z')).toEqual([
      ['2026-10-23T00:30:00.000Z', '2026-10-22'],
      ['2026-10-24T00:30:00.000Z', '2026-10-23'],
      ['2026-10-25T00:30:00.000Z', '2026-10-24'], // 02:30 CEST; not again at 02:30 CET (01:30Z)
      ['2026-10-26T01:30:00.000Z', '2026-10-25'], // 02:30 CET
    ]);
    expect(latestTick(berlin, at('2026-10-25T01:45:00Z'))?.at).toEqual(at('2026-10-25T00:30:00Z'));
  });

  it('node-cron itself would fire never on the spring day and twice on the autumn day: why it only wakes us', () => {
    const task = createTask(berlin.cron, () => {}, { timezone: berlin.timezone });
    try {
      const spring = Array.from({ length: 180 }, (_, m) => new Date(Date.parse('2026-03-29T00:00:00Z') + m * 60_000)).filter((d) =>
        task.match(d),
      );
      const autumn = Array.from({ length: 180 }, (_, m) => new Date(Date.parse('2026-10-25T00:00:00Z') + m * 60_000)).filter((d) =>
        task.match(d),
      );
      expect(spring).toEqual([]);
      expect(autumn).toEqual([at('2026-10-25T00:30:00Z'), at('2026-10-25T01:30:00Z')]);
    } finally {
      void task.destroy();
    }
  });
});

describe('job file validation', () => {
  const base = {
    features: { path: 'f/*.parquet', columns: ['a'] },
    model: { path: 'm.onnx', output: { kind: 'scores' } },
    items: { path: 'i.csv' },
  };
  const load = (schedule: unknown) => parseJob('/jobs/x.json', JSON.stringify({ ...base, schedule }), '/');
  it('accepts a 5-field cron and a known zone, with defaults', () => {
    expect(load({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }).schedule).toEqual({
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      catchupDays: 7,
    });
    expect(load({ cron: '0 2 * * *' }).schedule).toEqual({ cron: '0 2 * * *', timezone: 'UTC', catchupDays: 7 });
  });
  it('names the field and what to do', () => {
    expect(() => load({ cron: '0 0 2 * * *' })).toThrow(/field "schedule.cron" must have 5 fields/);
    expect(() => load({ cron: '0 25 * * *' })).toThrow(
      /field "schedule.cron" is not a valid cron expression: 25 is a invalid expression for hour/,
    );
    expect(() => load({ cron: '0 2 L * *' })).toThrow(/field "schedule.cron" uses L, W or #/);
    expect(() => load({ cron: '0 2 * * *', timezone: 'Mars/Olympus' })).toThrow(
      /field "schedule.timezone" must be an IANA time zone name .* \(got "Mars\/Olympus"\)/,
    );
    expect(() => load({ cron: '0 2 * * *', catchup_days: -1 })).toThrow(
      /field "schedule.catchup_days" must be an integer between 0 and 3650/,
    );
  });
});
