// A date whose files are not there yet waits instead of failing (schedule.wait_for_data; Airflow's sensor
// in reschedule mode): the scheduler looks every poll_seconds, holding no run slot and no DuckDB between
// looks, with a 'waiting' row in the ledger; after timeout_seconds it fails as late (exit 7).
// The timeout counts from the waiting row's start, so a scheduler restarted meanwhile does not start over.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/load-config.ts';
import { ExitCode } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { hasPartition } from '../read/partition-dates.ts';
import type { Queryable } from '../store/queryable.ts';
import { endWaiting, markLate, startWaiting } from '../store/waiting-runs.ts';
import type { DateOutcome } from './date-outcome.ts';
import { duckOptions } from './start-date.ts';

export type Waited = { ready: true; seconds: number } | { ready: false; outcome: DateOutcome };

export interface WaitOptions {
  job: JobDefinition;
  date: string;
  db: Queryable;
  config: Config;
  log: Logger;
  /** aborted when the scheduler stops: the waiting row stays, and the next scheduler resumes the wait */
  signal: AbortSignal;
}

export async function waitForData(o: WaitOptions): Promise<Waited> {
  const { job, date } = o;
  const look = () => withDuckDB(duckOptions(o.config), (conn) => hasPartition(conn, job, date));
  const wait = job.schedule?.waitForData;
  if (!wait || (await look())) return { ready: true, seconds: 0 };
  const row = await startWaiting(o.db, job.name, date);
  const deadline = row.startedAt.getTime() + wait.timeoutSeconds * 1000;
  const log = o.log.child({ job: job.name, date, runId: row.runId });
  log.info(
    `${job.name} ${date}: no files yet under ${job.features.path}; waiting (run ${row.runId}), looking every ${wait.pollSeconds} s until ${new Date(deadline).toISOString()}`,
  );
  while (Date.now() < deadline) {
    const pause = Math.min(wait.pollSeconds * 1000, deadline - Date.now());
    const stopped = await sleep(pause, false, { signal: o.signal }).catch(() => true);
    if (stopped)
      return {
        ready: false,
        outcome: {
          job: job.name,
          date,
          status: 'interrupted',
          runId: row.runId,
          note: 'scheduler stopping while the date waited for its files; the next start resumes the wait',
        },
      };
    if (await look()) {
      await endWaiting(o.db, row.runId);
      const seconds = (Date.now() - row.startedAt.getTime()) / 1000;
      log.info(`${job.name} ${date}: the files arrived after ${seconds.toFixed(1)} s of waiting; running the date`);
      return { ready: true, seconds };
    }
  }
  const note =
    `late: no files for ${date} under ${job.features.path} after waiting ${wait.timeoutSeconds} s (schedule.wait_for_data.timeout_seconds); ` +
    'check the upstream export for that date; the next scheduler pass looks again';
  await markLate(o.db, row.runId, note);
  log.error(`job ${job.name}, date ${date}: ${note}`);
  return { ready: false, outcome: { job: job.name, date, status: 'failed', runId: row.runId, exitCode: ExitCode.late, note } };
}
