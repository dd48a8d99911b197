// Wall-clock time in an IANA time zone <-> instants, with Intl only (no tz database of our own).
// DST follows Temporal's 'compatible' disambiguation, the behaviour most schedulers and calendars share:
//   - a wall time that does not exist (spring forward, 02:30 in Europe/Berlin on the last Sunday of March)
//     moves forward by the size of the gap (-> 03:30 CEST);
//   - a wall time that exists twice (fall back, 02:30 on the last Sunday of October) is the earlier one (CEST).
const MINUTE = 60_000;
const DAY = 86_400_000;

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows the zone name (UTC, Europe/Berlin, ...). */
export function timeZoneKnown(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `timeZone` at instant `ms` (seconds dropped). */
export function wallTimeAt(ms: number, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour % 24, minute: parts.minute };
}

/** UTC offset in minutes (local - UTC) at instant `ms`. */
function offsetMinutes(ms: number, timeZone: string): number {
  const w = wallTimeAt(ms, timeZone);
  const wallMs = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  return Math.round((wallMs - Math.floor(ms / MINUTE) * MINUTE) / MINUTE);
}

/**
 * The instant a wall time happens in `timeZone`. Real zones change offset at most once within a day, so the
 * offsets a day before and a day after are the only candidates.
 */
export function instantOf(w: WallTime, timeZone: string): number {
  const wallMs = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  const before = offsetMinutes(wallMs - DAY, timeZone);
  const after = offsetMinutes(wallMs + DAY, timeZone);
  const valid = [...new Set([before, after])]
    .map((o) => wallMs - o * MINUTE)
    .filter((ms) => offsetMinutes(ms, timeZone) * MINUTE === wallMs - ms);
  if (valid.length) return Math.min(...valid); // twice (fall back): the earlier
  return wallMs - before * MINUTE; // never (spring forward): read with the old offset, i.e. later by the gap
}

/** 'YYYY-MM-DD' of a wall time. */
export function civilDate(w: Pick<WallTime, 'year' | 'month' | 'day'>): string {
  return `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}
