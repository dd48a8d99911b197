// Prediction dates are calendar days, 'YYYY-MM-DD', with no time zone attached.
import { BadInputError } from './errors.ts';

const DAY = 86_400_000;

/** A YYYY-MM-DD string that names a day of the calendar (not 2026-02-30), in years 1 to 9999. */
export function isCalendarDay(value: string): boolean {
  const t = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(t) && !value.startsWith('0000') && new Date(t).toISOString().slice(0, 10) === value;
}

export function parseDate(value: string, what = 'date'): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new BadInputError(`${what} ${JSON.stringify(value)} is not a date: use YYYY-MM-DD, e.g. 2026-11-20`);
  }
  // JavaScript has a year 0 and PostgreSQL does not ('date/time field value out of range'); four digits cap it at 9999
  if (value.startsWith('0000')) throw new BadInputError(`${what} ${value} is before year 1: use a date in years 0001 to 9999`);
  if (!isCalendarDay(value)) throw new BadInputError(`${what} ${value} is not a real calendar day`);
  return value;
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}

/** Every date from `from` to `to`, inclusive. */
export function dateRange(from: string, to: string): string[] {
  parseDate(from, '--from');
  parseDate(to, '--to');
  if (from > to) throw new BadInputError(`--from ${from} is after --to ${to}; swap them`);
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** Yesterday in UTC: the date a daily run scores by default. */
export function yesterday(now = new Date()): string {
  return addDays(now.toISOString().slice(0, 10), -1);
}
