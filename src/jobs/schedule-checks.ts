// What a job file's "schedule" must hold, checked when the file is loaded: a 5-field cron expression that
// node-cron accepts and batchcast can compute ticks for (src/schedule/ticks.ts), and an IANA time zone.
import { parse, validateDetailed } from 'node-cron';
import { timeZoneKnown } from '../zoned-time.ts';

/** Undefined when the cron expression is usable, else what is wrong with it (to follow a field name). */
export function cronProblem(cron: string): string | undefined {
  const got = `(got ${JSON.stringify(cron)})`;
  const n = cron.trim().split(/\s+/).length;
  if (n !== 5) return `must have 5 fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *"; batch runs need no seconds ${got}`;
  const check = validateDetailed(cron);
  if (!check.valid) return `is not a valid cron expression: ${check.errors.map((e) => e.message).join('; ')} ${got}`;
  const p = parse(cron);
  if ([...p.dayOfMonth, ...p.dayOfWeek].some((v) => typeof v !== 'number'))
    return `uses L, W or #, which batchcast does not support; list the days instead ${got}`;
  return undefined;
}

/** Undefined when the time zone is one Intl knows, else what is wrong with it (to follow a field name). */
export function timezoneProblem(timezone: string): string | undefined {
  return timeZoneKnown(timezone)
    ? undefined
    : `must be an IANA time zone name such as UTC, Europe/Berlin or America/New_York (got ${JSON.stringify(timezone)})`;
}
