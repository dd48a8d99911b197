// What the ledger commands print: backfill and scheduler outcomes, the runs, a publish and a prune.
import type { PruneOutcome } from '../../retention/prune-tables.ts';
import type { PublishOutcome } from '../../run/publish-generation.ts';
import { countByStatus, type DateOutcome, DatesFailedError, failureSummary } from '../../schedule/date-outcome.ts';
import type { LedgerRow } from '../../store/ledger.ts';
import { formatTable, wholeNumber as n, type OutputFlags, shortNote } from './text.ts';

/** Backfill and scheduler results: date -> status, run id, rows, duration. */
export function printDateOutcomes(r: { dates: DateOutcome[]; seconds: number; exitCode: number }, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (flags.quiet) return;
  if (!r.dates.length) {
    process.stdout.write('nothing was due\n');
    return;
  }
  const rows = r.dates.map((o) => [
    o.date,
    o.status,
    o.runId !== undefined ? String(o.runId) : '',
    o.rows !== undefined ? n(o.rows) : '',
    o.seconds !== undefined ? o.seconds.toFixed(1) : '',
    shortNote(o),
  ]);
  const counts = Object.entries(countByStatus(r.dates))
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  process.stdout.write(
    formatTable(['date', 'status', 'run', 'rows', 'seconds', 'note'], rows, ['run', 'rows', 'seconds']) +
      `${r.dates.length} date(s): ${counts}; ${r.seconds.toFixed(1)} s; exit code ${r.exitCode}\n`,
  );
}

export function printRuns(runs: LedgerRow[], flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(runs) + '\n');
    return;
  }
  if (!runs.length) {
    if (!flags.quiet) process.stdout.write('no runs\n');
    return;
  }
  const rows = runs.map((r) => [
    String(r.run_id),
    r.job,
    r.prediction_date,
    r.shards ? `${r.status} ${r.shards_done ?? 0}/${r.shards} shards` : r.status,
    r.published ? 'yes' : '',
    r.model_version ?? '',
    n(r.rows_written),
    r.timings?.total !== undefined ? (r.timings.total / 1000).toFixed(1) : '',
    r.started_at.toISOString().slice(0, 19).replace('T', ' '),
    r.archived_to ? 'archived' : r.pruned_at ? 'pruned' : '',
    shortNote({ job: r.job, date: r.prediction_date, note: r.error ?? '' }),
  ]);
  process.stdout.write(
    formatTable(['run', 'job', 'date', 'status', 'published', 'model', 'rows', 'seconds', 'started (UTC)', 'table', 'error'], rows, [
      'run',
      'rows',
      'seconds',
    ]),
  );
}

export function printPublish(p: PublishOutcome, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(p) + '\n');
    return;
  }
  if (flags.quiet) return;
  process.stdout.write(
    p.action === 'unchanged'
      ? `run ${p.runId} is already the published generation of job ${p.job}, date ${p.date}; nothing changed\n`
      : `job ${p.job}, date ${p.date} now serves run ${p.runId} (${p.action}${p.previousRunId !== undefined ? ` from run ${p.previousRunId}` : ''}, ${p.ms.toFixed(0)} ms)\n`,
  );
}

export function printPrune(r: PruneOutcome, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (flags.quiet) return;
  const out: string[] = [];
  if (r.dropped.length) out.push(`dropped the tables of ${r.dropped.length} run(s): ${r.dropped.join(', ')}`);
  for (const j of r.retention) {
    for (const d of j.retired) {
      out.push(
        `job ${j.job}, date ${d.date}: ${d.archived ? `archived run ${d.publishedRunId} (${n(d.archived.rows)} rows) to ${d.archived.path}, ` : ''}` +
          `${d.publishedRunId !== undefined ? 'no longer served, ' : ''}dropped run(s) ${d.dropped.join(', ') || 'none'}`,
      );
    }
    if (j.newest) out.push(`job ${j.job}: keeps ${j.kept} published date(s), ${j.keepFrom} to ${j.newest}`);
    if (j.skippedBusy.length) out.push(`job ${j.job}: busy, left for next time: ${j.skippedBusy.join(', ')}`);
  }
  if (r.skippedBusy.length) out.push(`busy, left for next time: ${r.skippedBusy.join(', ')}`);
  process.stdout.write(out.length ? `${out.join('\n')}\n` : 'nothing to prune\n');
}

/** The exit code of a batch of dates, with a one-line summary on stderr, after the table was printed. */
export function failOnFailedDates(r: { dates: DateOutcome[]; exitCode: number }): void {
  if (r.exitCode !== 0) throw new DatesFailedError(failureSummary(r.dates), r.exitCode);
}
