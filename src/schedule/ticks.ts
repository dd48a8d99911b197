// Which dates are due, from the job's cron expression alone: pure functions of (schedule, now, ledger facts).
// node-cron only wakes the scheduler up; it is never asked what was missed, because v4 drops ticks it
// considers "missed" under load (node-cron #485), never fires a wall time skipped by DST and fires a repeated
// one twice. Here every tick is computed from the expression, so a lost wake-up only delays a date.
//
// The logical date of a tick is the day before the tick's wall-clock date in the job's time zone: the
// 02:00 tick on the 21st scores the 20th, whenever the run actually starts.
import { parse } from 'node-cron';
import { addDays } from '../dates.ts';
import { cronProblem } from '../jobs/schedule-checks.ts';
import { civilDate, instantOf, wallTimeAt } from '../zoned-time.ts';

export interface Schedule {
  cron: string;
  timezone: string;
  catchupDays: number;
  /** no date before this one is ever due (schedule.start_date, or the first date with data) */
  startDate?: string;
}

export interface Tick {
  /** when the tick happens */
  at: Date;
  /** the prediction date it scores */
  date: string;
}

interface Fields {
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
}

const compiled = new Map<string, Fields>();
// A cron that matches nothing for this long has no ticks (Feb 29 recurs within 8 years; 9 covers it).
const SEARCH_DAYS = 366 * 9;

function fields(cron: string): Fields {
  let f = compiled.get(cron);
  if (!f) {
    const problem = cronProblem(cron);
    if (problem) throw new Error(`cron ${problem}`);
    const p = parse(cron);
    f = {
      minutes: [...p.minute].sort((a, b) => a - b),
      hours: [...p.hour].sort((a, b) => a - b),
      days: new Set(p.dayOfMonth as number[]),
      months: new Set(p.month),
      weekdays: new Set(p.dayOfWeek as number[]),
    };
    compiled.set(cron, f);
  }
  return f;
}

/** The ticks whose wall-clock date is `day` ('YYYY-MM-DD' in the job's zone), in time order. */
function ticksOnDay(s: Pick<Schedule, 'cron' | 'timezone'>, day: string): Tick[] {
  const f = fields(s.cron);
  const [year, month, dom] = day.split('-').map(Number);
  const weekday = new Date(Date.UTC(year, month - 1, dom)).getUTCDay();
  // Day-of-month AND day-of-week, as node-cron matches them (classic cron ORs them when both are set).
  if (!f.months.has(month) || !f.days.has(dom) || !f.weekdays.has(weekday)) return [];
  const date = addDays(day, -1);
  const seen = new Set<number>();
  const out: Tick[] = [];
  for (const hour of f.hours) {
    for (const minute of f.minutes) {
      const at = instantOf({ year, month, day: dom, hour, minute }, s.timezone);
      // 02:30 and 03:30 both land on 03:30 on a spring-forward day: one tick.
      if (!seen.has(at)) out.push({ at: new Date(at), date });
      seen.add(at);
    }
  }
  return out.sort((a, b) => a.at.getTime() - b.at.getTime());
}

function localDay(ms: number, timezone: string): string {
  return civilDate(wallTimeAt(ms, timezone));
}

/** Ticks with from < at <= to, in time order. */
export function ticksBetween(s: Pick<Schedule, 'cron' | 'timezone'>, from: Date, to: Date): Tick[] {
  const out: Tick[] = [];
  const last = addDays(localDay(to.getTime(), s.timezone), 1);
  for (let day = addDays(localDay(from.getTime(), s.timezone), -1); day <= last; day = addDays(day, 1)) {
    for (const t of ticksOnDay(s, day)) if (t.at > from && t.at <= to) out.push(t);
  }
  return out;
}

/** The most recent tick at or before `now`. */
export function latestTick(s: Pick<Schedule, 'cron' | 'timezone'>, now: Date): Tick | undefined {
  let day = addDays(localDay(now.getTime(), s.timezone), 1);
  for (let i = 0; i < SEARCH_DAYS; i++, day = addDays(day, -1)) {
    const past = ticksOnDay(s, day).filter((t) => t.at <= now);
    if (past.length) return past[past.length - 1];
  }
  return undefined;
}

/** The first tick after `now`. */
export function nextTick(s: Pick<Schedule, 'cron' | 'timezone'>, now: Date): Tick | undefined {
  let day = addDays(localDay(now.getTime(), s.timezone), -1);
  for (let i = 0; i < SEARCH_DAYS; i++, day = addDays(day, 1)) {
    const next = ticksOnDay(s, day).find((t) => t.at > now);
    if (next) return next;
  }
  return undefined;
}

/**
 * The dates to run now, oldest first: the logical dates of the ticks up to `now`, after the last succeeded
 * date, no older than catchupDays before the latest tick's date (0 = only the latest date), and none before startDate.
 * A clock that jumps backwards yields nothing new: those dates are at or before lastSucceeded.
 */
export function dueDates(s: Schedule, now: Date, lastSucceeded: string | undefined): string[] {
  const latest = latestTick(s, now);
  if (!latest) return [];
  let oldest = addDays(latest.date, -s.catchupDays);
  if (lastSucceeded && addDays(lastSucceeded, 1) > oldest) oldest = addDays(lastSucceeded, 1);
  if (s.startDate && s.startDate > oldest) oldest = s.startDate;
  if (oldest > latest.date) return [];
  // Ticks map to dates in order, so the ticks of the window's first date start at most a day (+DST) earlier.
  const from = new Date(latest.at.getTime() - (s.catchupDays + 2) * 86_400_000);
  const dates = new Set<string>();
  for (const t of ticksBetween(s, from, now)) if (t.date >= oldest && t.date <= latest.date) dates.add(t.date);
  return [...dates].sort();
}
