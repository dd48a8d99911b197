// `batchcast schedule --dry-run`: what the scheduler would do now and next, per job, with no side effect
// (Airflow's `dags next-execution`): the catch-up dates a pass would run now, each with what the ledger
// and the disk say about it, and the next ticks. It reads the ledger and lists files; it writes nothing,
// claims nothing and does not even migrate (a database never migrated reads as an empty ledger).
import type { Config } from '../config/load-config.ts';
import { BadInputError } from '../errors.ts';
import { type JobDefinition, loadJob, projectJobs } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { partitionDates } from '../read/partition-dates.ts';
import { type DateStatus, dateStatuses, lastSucceededDate } from '../store/date-statuses.ts';
import type { Queryable } from '../store/queryable.ts';
import type { Clock } from './scheduler.ts';
import { duckOptions, type StartDate, startDateOf } from './start-date.ts';
import { dueDates, nextTick } from './ticks.ts';

export interface PreviewDate {
  date: string;
  /** run: never ran; rerun: its newest run failed; held: needs a person, not rerun; waiting: already waiting for files */
  action: 'run' | 'rerun' | 'held' | 'waiting';
  /** whether its files are on disk now */
  files: boolean;
  note: string;
}

export interface SchedulePreview {
  job: string;
  cron: string;
  timezone: string;
  catchupDays: number;
  start: StartDate;
  lastSucceeded: string | undefined;
  waitForData: { timeoutSeconds: number; pollSeconds: number } | undefined;
  /** what one pass would do now (schedule --once), oldest first */
  catchUp: PreviewDate[];
  /** the next ticks after now: when, and the date each scores */
  next: { at: string; date: string }[];
}

export interface PreviewOptions {
  config: Config;
  db: Queryable;
  /** job names; default: as `schedule` (every job in jobs/ with a schedule) */
  jobs?: string[];
  clock?: Clock;
  /** how many next ticks to list per job */
  count?: number;
}

/** A ledger that does not exist yet (a database never migrated) reads as empty. */
function emptyWhenUnmigrated<T>(empty: T) {
  return (err: { code?: string }) => {
    if (err.code === '42P01' || err.code === '3F000') return empty;
    throw err;
  };
}

export async function previewSchedule(o: PreviewOptions): Promise<SchedulePreview[]> {
  const names = o.jobs?.length ? o.jobs : projectJobs(o.config.jobsDir);
  const jobs: JobDefinition[] = [];
  for (const name of names) {
    const job = loadJob(o.config.jobsDir, name, o.config.root);
    if (job.schedule) jobs.push(job);
    else if (o.jobs?.length) throw new BadInputError(`job ${name} has no "schedule" in ${job.file}; add one, e.g. { "cron": "0 2 * * *" }`);
  }
  if (!jobs.length) throw new BadInputError(`no job in ${o.config.jobsDir} has a "schedule"; nothing to preview`);
  const now = (o.clock ?? { now: () => new Date() }).now();
  const out: SchedulePreview[] = [];
  for (const job of jobs) out.push(await previewJob(job, now, o));
  return out;
}

async function previewJob(job: JobDefinition, now: Date, o: PreviewOptions): Promise<SchedulePreview> {
  const schedule = job.schedule!;
  const [start, last, onDisk] = await Promise.all([
    startDateOf(job, o.db, o.config, now),
    lastSucceededDate(o.db, job.name).catch(emptyWhenUnmigrated(undefined)),
    withDuckDB(duckOptions(o.config), (conn) => partitionDates(conn, job)).catch(() => [] as string[]),
  ]);
  const due = dueDates({ ...schedule, startDate: start.date }, now, last);
  const statuses = due.length
    ? await dateStatuses(o.db, job.name, due[0], due[due.length - 1]).catch(emptyWhenUnmigrated([] as DateStatus[]))
    : [];
  const byDate = new Map(statuses.map((s) => [s.date, s]));
  const files = new Set(onDisk);
  const wait = schedule.waitForData;
  const catchUp = due.map((date): PreviewDate => {
    const s = byDate.get(date);
    const has = files.has(date);
    const missing = wait
      ? `no files yet: waits up to ${wait.timeoutSeconds} s, looking every ${wait.pollSeconds} s`
      : 'no files yet: would fail';
    if (s?.lastStatus === 'held')
      return { date, action: 'held', files: has, note: `run ${s.lastRunId} held by a gate: needs a person, not rerun` };
    if (s?.lastStatus === 'waiting') return { date, action: 'waiting', files: has, note: `run ${s.lastRunId} is waiting for its files` };
    const note = has ? 'files on disk' : missing;
    if (s?.lastStatus === 'failed') return { date, action: 'rerun', files: has, note: `run ${s.lastRunId} failed; ${note}` };
    return { date, action: 'run', files: has, note };
  });
  const next: SchedulePreview['next'] = [];
  for (let at = now, i = 0; i < (o.count ?? 3); i++) {
    const t = nextTick(schedule, at);
    if (!t) break;
    next.push({ at: t.at.toISOString(), date: t.date });
    at = t.at;
  }
  return {
    job: job.name,
    cron: schedule.cron,
    timezone: schedule.timezone,
    catchupDays: schedule.catchupDays,
    start,
    lastSucceeded: last,
    waitForData: wait,
    catchUp,
    next,
  };
}
