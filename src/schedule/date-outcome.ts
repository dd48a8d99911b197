// What happened to one date of a backfill or a scheduler pass, and the exit code a whole batch of them gives.
import { BatchcastError, ExitCode } from '../errors.ts';

export type OutcomeStatus =
  | 'succeeded' // ran and published
  | 'failed' // ran and failed; nothing published, the previous generation is still served
  | 'held' // written but held back by a gate: needs a person (publish --run R --reason, or fix and rerun); not retried
  | 'busy' // another run, scheduler or backfill is doing this date right now
  | 'interrupted' // stopped by a signal, or never started because of one
  | 'skipped' // nothing to do (already published with this model, or already succeeded)
  | 'planned'; // --dry-run: would run

export interface DateOutcome {
  job: string;
  date: string;
  status: OutcomeStatus;
  runId?: number;
  rows?: number;
  seconds?: number;
  /** the run's exit code (see errors.ts) when it ran */
  exitCode?: number;
  /** why it was skipped, or the error */
  note?: string;
}

/**
 * 0 when every date is done or skipped. Dates that failed: their exit code when they all agree (all bad
 * input -> 2, all infrastructure -> 4), else 5. Only lock-busy dates left: 3, someone else is on them.
 */
export function exitCodeFor(outcomes: DateOutcome[]): number {
  const failed = outcomes.filter(notDone);
  if (failed.length) {
    const codes = new Set(failed.map((o) => (o.status === 'held' ? ExitCode.held : (o.exitCode ?? ExitCode.failed))));
    return codes.size === 1 ? [...codes][0] : ExitCode.datesFailed;
  }
  return outcomes.some((o) => o.status === 'busy') ? ExitCode.lockBusy : ExitCode.ok;
}

function notDone(o: DateOutcome): boolean {
  return o.status === 'failed' || o.status === 'interrupted' || o.status === 'held';
}

/** A date whose newest run was held back by a gate: reported, never rerun automatically. */
export function heldOutcome(job: string, date: string, runId: number): DateOutcome {
  return {
    job,
    date,
    status: 'held',
    runId,
    exitCode: ExitCode.held,
    note: `needs a person: run ${runId} was held back by a gate (batchcast runs --job ${job} --date ${date}); publish it with batchcast publish --run ${runId} --reason "...", or fix the input and rerun with --reprocess all`,
  };
}

export function countByStatus(outcomes: DateOutcome[]): Partial<Record<OutcomeStatus, number>> {
  const out: Partial<Record<OutcomeStatus, number>> = {};
  for (const o of outcomes) out[o.status] = (out[o.status] ?? 0) + 1;
  return out;
}

/** Thrown by the CLI after printing the table, so `main()` exits with the batch's code and a one-line summary. */
export class DatesFailedError extends BatchcastError {
  override name = 'DatesFailedError';
  constructor(
    message: string,
    override readonly exitCode: number,
  ) {
    super(message);
  }
}

/** "2 of 10 dates failed: 2026-11-18 (exit 2), ..." for the last line on stderr. */
export function failureSummary(outcomes: DateOutcome[]): string {
  const bad = outcomes.filter(notDone);
  const busy = outcomes.filter((o) => o.status === 'busy');
  const list = (xs: DateOutcome[]) =>
    xs
      .slice(0, 5)
      .map((o) => `${o.date} (${o.status}${o.exitCode ? `, exit ${o.exitCode}` : ''})`)
      .join(', ') + (xs.length > 5 ? ', ...' : '');
  const held = bad.filter((o) => o.status === 'held');
  if (held.length === bad.length)
    return `${held.length} of ${outcomes.length} date(s) held back by a gate and need a person: ${list(held)}; see batchcast runs, then batchcast publish --run R --reason "..." or fix the input and rerun`;
  if (bad.length)
    return `${bad.length} of ${outcomes.length} date(s) not done: ${list(bad)}; rerun the same command to retry them${held.length ? ' (held dates need a person)' : ''}`;
  return `${busy.length} of ${outcomes.length} date(s) busy in another process: ${list(busy)}; rerun later`;
}
