// `batchcast schedule`: runs each scheduled job's dates as they come due, and catches up after downtime.
//
// Wake-ups come from node-cron (one task per job) and from a watchdog timer armed for the next computed tick,
// because node-cron v4 may drop a tick under load (#485) and never fires a wall time that DST skips. A wake-up
// only says "look now": every pass recomputes the due dates from the cron expression and the ledger
// (ticks.ts), so a lost, doubled or early wake-up never loses or doubles a date.
//
// Each date: claim (claim-date.ts) -> re-read the ledger -> child process (spawn-run.ts) -> release. A run
// that exits 3 (another process holds the run lock) is left to that process; the next tick re-reads the
// ledger and runs the date again only if it is still not done.
import cron, { type ScheduledTask } from 'node-cron';
import pLimit from 'p-limit';
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError, describeError, exitCodeOf } from '../errors.ts';
import { type JobDefinition, loadJob, projectJobs } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { claimDate } from '../store/claim-date.ts';
import { hasSucceeded, heldRun, lastSucceededDate } from '../store/date-statuses.ts';
import { migrate } from '../store/migrate.ts';
import { addRunTiming, clearStaleWaiting } from '../store/waiting-runs.ts';
import { type DateOutcome, heldOutcome } from './date-outcome.ts';
import { type SpawnedRun, spawnRun } from './spawn-run.ts';
import { startDateOf } from './start-date.ts';
import { dueDates, latestTick, nextTick, type Schedule } from './ticks.ts';
import { waitForData } from './wait-for-data.ts';
import { alertOf, WebhookAlerts } from './webhook-alerts.ts';

export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };

export interface SchedulerOptions {
  config: Config;
  db: Db;
  log: Logger;
  /** job names; default: every job in jobs/ that has a schedule (the demo's only while jobs/ holds none) */
  jobs?: string[];
  /** tests pass a fake clock and call check() themselves */
  clock?: Clock;
  /** 'timers': node-cron and the watchdog wake the scheduler up; 'manual': only check() does */
  wake?: 'timers' | 'manual';
  /** told of every held, failed and late date (config alerts.webhookUrl); never waited for */
  alerts?: WebhookAlerts;
}

export interface PassResult {
  job: string;
  /** the latest tick at the time of the pass */
  tick: { at: string; date: string } | undefined;
  outcomes: DateOutcome[];
}

type WakeReason = 'startup' | 'tick' | 'missed' | 'watchdog';

// The watchdog fires 2 s after a computed tick: after node-cron had its chance, so it usually finds
// nothing new. Capped at 1 h so a sleeping laptop or a clock step never leaves it armed for days.
const WATCHDOG_DELAY_MS = 2_000;
const WATCHDOG_MAX_MS = 3_600_000;

interface ScheduledJob {
  name: string;
  def: JobDefinition;
  schedule: Schedule;
  handledTick: number;
  chain: Promise<unknown>;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly jobs = new Map<string, ScheduledJob>();
  private readonly tasks: ScheduledTask[] = [];
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly stopRuns = new AbortController();
  /** aborted as soon as stopping starts: a date waiting for its files stops waiting (its row stays) */
  private readonly stopWaits = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private watchdog: NodeJS.Timeout | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly o: SchedulerOptions) {
    this.clock = o.clock ?? systemClock;
    this.limit = pLimit(o.config.schedule.maxConcurrentRuns);
  }

  /** Loads the jobs, starts the wake-ups and runs the start-up pass (catch-up). */
  async start(): Promise<PassResult[]> {
    const { config, log } = this.o;
    const names = this.o.jobs?.length ? this.o.jobs : projectJobs(config.jobsDir);
    for (const name of names) {
      const job: JobDefinition = loadJob(config.jobsDir, name, config.root);
      if (!job.schedule) {
        if (this.o.jobs?.length)
          throw new BadInputError(`job ${name} has no "schedule" in ${job.file}; add one, e.g. { "cron": "0 2 * * *" }`);
        continue;
      }
      this.jobs.set(name, { name, def: job, schedule: job.schedule, handledTick: -Infinity, chain: Promise.resolve() });
    }
    if (!this.jobs.size) throw new BadInputError(`no job in ${config.jobsDir} has a "schedule"; nothing to do`);
    await migrate(this.o.db.pool);
    if (this.o.wake !== 'manual') {
      for (const job of this.jobs.values()) {
        const task = cron.schedule(job.schedule.cron, () => this.wakeUp(job.name, 'tick'), {
          timezone: job.schedule.timezone,
          name: `batchcast ${job.name}`,
          logger: cronLogger(log),
        });
        task.on('execution:missed', () => this.wakeUp(job.name, 'missed'));
        this.tasks.push(task);
      }
    }
    for (const job of this.jobs.values()) {
      log.info(`scheduling job ${job.name}: "${job.schedule.cron}" ${job.schedule.timezone}, catch-up ${job.schedule.catchupDays} days`, {
        job: job.name,
        next: nextTick(job.schedule, this.clock.now())?.at.toISOString(),
      });
    }
    return this.check('startup');
  }

  /** One pass over every job, as if each had just woken up. */
  async check(reason: WakeReason = 'tick'): Promise<PassResult[]> {
    const results = await Promise.all([...this.jobs.keys()].map((name) => this.enqueue(name, reason)));
    this.armWatchdog();
    return results;
  }

  /** Stops waking up, waits up to graceMs for the runs in progress, then stops them (SIGTERM, then SIGKILL). */
  stop(graceMs = this.o.config.schedule.graceMs): Promise<void> {
    this.stopped ??= this.drain(graceMs);
    return this.stopped;
  }

  private async drain(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopWaits.abort();
    clearTimeout(this.watchdog);
    for (const task of this.tasks) await task.destroy();
    if (!this.inFlight.size) return;
    this.o.log.info(`waiting up to ${Math.round(graceMs / 1000)} s for the run in progress to finish`);
    let timer: NodeJS.Timeout | undefined;
    const drained = Promise.allSettled([...this.inFlight]).then(() => true);
    const late = await Promise.race([
      drained,
      new Promise<false>((r) => {
        timer = setTimeout(() => r(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!late) {
      this.o.log.warn(
        `the run did not finish within ${Math.round(graceMs / 1000)} s; stopping it (it will be marked failed, nothing published)`,
      );
      this.stopRuns.abort();
      await drained;
    }
  }

  private wakeUp(name: string, reason: WakeReason): void {
    this.enqueue(name, reason)
      .catch((err) =>
        this.o.log.error(`scheduler pass for job ${name} failed: ${describeError(err)}; the next wake-up retries`, { job: name }),
      )
      .finally(() => this.armWatchdog());
  }

  /** Passes of one job run one after another; passes of different jobs run side by side. */
  private enqueue(name: string, reason: WakeReason): Promise<PassResult> {
    const job = this.jobs.get(name)!;
    const pass = job.chain.then(() => this.pass(job, reason));
    job.chain = pass.catch(() => {});
    this.inFlight.add(pass);
    void pass.finally(() => this.inFlight.delete(pass)).catch(() => {});
    return pass;
  }

  private async pass(job: ScheduledJob, reason: WakeReason): Promise<PassResult> {
    const now = this.clock.now();
    const tick = latestTick(job.schedule, now);
    const result: PassResult = { job: job.name, tick: tick && { at: tick.at.toISOString(), date: tick.date }, outcomes: [] };
    if (this.stopping || !tick) return result;
    // A second wake-up for a tick already handled (node-cron and the watchdog, a repeated DST hour, a clock
    // stepped back) has nothing new to do. Start-up always looks: the ledger may have changed meanwhile.
    if (reason !== 'startup' && tick.at.getTime() <= job.handledTick) return result;
    await clearStaleWaiting(this.o.db.pool, job.name);
    const last = await lastSucceededDate(this.o.db.pool, job.name);
    job.handledTick = Math.max(job.handledTick, tick.at.getTime()); // only once the ledger answered
    // Catch-up never goes before the job's start (schedule.start_date, else its first date with data, else its first run).
    const start = await startDateOf(job.def, this.o.db.pool, this.o.config, now);
    const due = dueDates({ ...job.schedule, startDate: start.date }, now, last);
    const log = this.o.log.child({ job: job.name });
    if (due.length)
      log.info(`${due.length} date(s) due: ${due.join(', ')}`, {
        reason,
        tick: tick.at.toISOString(),
        lastSucceeded: last ?? null,
        startDate: start.date ?? null,
      });
    for (const date of due) {
      if (this.stopping) break;
      const outcome = await this.runDate(job.def, date).catch(
        (err): DateOutcome => ({ job: job.name, date, status: 'failed', exitCode: exitCodeOf(err), note: describeError(err) }),
      );
      result.outcomes.push(outcome);
      const alert = alertOf(outcome);
      if (alert) this.o.alerts?.send(alert);
      const fields = {
        date,
        status: outcome.status,
        runId: outcome.runId ?? null,
        seconds: outcome.seconds && Number(outcome.seconds.toFixed(1)),
      };
      // info even when failed: spawn-run already logged the failure as an error, once.
      log.info(`${job.name} ${date}: ${outcome.status}${outcome.note ? ` (${outcome.note})` : ''}`, {
        ...fields,
        exitCode: outcome.exitCode ?? null,
      });
    }
    return result;
  }

  private async runDate(def: JobDefinition, date: string): Promise<DateOutcome> {
    const { config, db, log } = this.o;
    const job = def.name;
    const claim = await claimDate(db.url, config, job, date);
    if (!claim) return { job, date, status: 'busy', note: 'another scheduler or backfill is on this date' };
    try {
      if (await hasSucceeded(db.pool, job, date)) return { job, date, status: 'skipped', note: 'already succeeded' };
      // A held date needs a person: rerunning it every tick would hold it again (or, worse, not).
      const held = await heldRun(db.pool, job, date);
      if (held !== undefined) return heldOutcome(job, date, held);
      // Files not there yet: wait for them (schedule.wait_for_data) outside a run slot, or fail as late.
      const waited = await waitForData({ job: def, date, db: db.pool, config, log, signal: this.stopWaits.signal });
      if (!waited.ready) return waited.outcome;
      // Checked again once a slot is free: a date queued behind another job's run must not start after SIGTERM.
      const stopping: SpawnedRun = { job, date, status: 'interrupted', note: 'scheduler stopping' };
      const run = await this.limit(async () =>
        this.stopping ? stopping : spawnRun({ job, date, config, dbUrl: db.url, log, signal: this.stopRuns.signal }),
      );
      if (run.status === 'busy') run.note = 'another process holds the run lock and is doing this date; left to it';
      if (waited.seconds > 0 && run.runId !== undefined)
        await addRunTiming(db.pool, run.runId, 'wait_for_data', Math.round(waited.seconds * 1000));
      const { result: _result, ...outcome } = run;
      return outcome;
    } finally {
      await claim.release();
    }
  }

  /** Arms one timer for the earliest next tick of all jobs. */
  private armWatchdog(): void {
    if (this.o.wake === 'manual' || this.stopping) return;
    clearTimeout(this.watchdog);
    const now = this.clock.now();
    const next = Math.min(...[...this.jobs.values()].map((j) => nextTick(j.schedule, now)?.at.getTime() ?? Infinity));
    if (!Number.isFinite(next)) return;
    const wait = Math.min(next - now.getTime() + WATCHDOG_DELAY_MS, WATCHDOG_MAX_MS);
    this.watchdog = setTimeout(
      () => {
        for (const name of this.jobs.keys()) this.wakeUp(name, 'watchdog');
      },
      Math.max(wait, 0),
    );
  }
}

/** node-cron's own messages (e.g. "missed execution") as our log lines. */
function cronLogger(log: Logger) {
  const text = (m: string | Error) => (m instanceof Error ? m.message : m);
  return {
    info: (m: string) => log.debug(`node-cron: ${m}`),
    warn: (m: string) => log.debug(`node-cron: ${m}`),
    error: (m: string | Error) => log.warn(`node-cron: ${text(m)}`),
    debug: (m: string | Error) => log.debug(`node-cron: ${text(m)}`),
  };
}

export interface RunSchedulerOptions extends SchedulerOptions {
  /** one pass, then exit (for system cron); otherwise run until `until` aborts */
  once?: boolean;
  until?: AbortSignal;
}

/** The `batchcast schedule` command: start, run until SIGTERM (or one pass with --once), stop gracefully. */
export async function runScheduler(o: RunSchedulerOptions): Promise<DateOutcome[]> {
  const alerts = o.alerts ?? WebhookAlerts.fromConfig(o.config, o.log);
  const scheduler = new Scheduler({ ...o, alerts, wake: o.once ? 'manual' : o.wake });
  const outcomes: DateOutcome[] = [];
  const stopOnAbort = () => {
    void scheduler.stop();
  };
  o.until?.addEventListener('abort', stopOnAbort, { once: true });
  try {
    for (const p of await scheduler.start()) outcomes.push(...p.outcomes);
    if (!o.once && !o.until?.aborted) {
      await new Promise<void>((resolve) => o.until?.addEventListener('abort', () => resolve(), { once: true }));
    }
  } finally {
    o.until?.removeEventListener('abort', stopOnAbort);
    await scheduler.stop();
    await alerts?.flush(o.config.alerts.flushMs);
  }
  return outcomes;
}
