// What predict and compare print: the run's outcome on stdout, for people or (--json) for scripts.
import type { PredictResult } from '../../run/predict.ts';
import type { Comparison } from '../../store/profiles.ts';
import { formatComparison, formatVerdicts } from './guard.ts';
import { wholeNumber as n, type OutputFlags } from './text.ts';

export function printComparison(c: Comparison, flags: OutputFlags): void {
  process.stdout.write(flags.json ? JSON.stringify(c) + '\n' : formatComparison(c));
}

export function printPredictResult(r: PredictResult, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (flags.quiet) return;
  if (r.status !== 'published') {
    const ref = r.guard.referenceRunId;
    process.stdout.write(
      `${r.status} run ${r.runId}: job ${r.job}, date ${r.date}, ${n(r.rows)} users in ${r.seconds.toFixed(1)} s; not published` +
        `${ref ? `; compared with run ${ref}` : '; no published generation to compare with (value gates only)'}\n` +
        (r.guard.comparison ? formatComparison(r.guard.comparison) : '') +
        formatVerdicts(r.guard.verdicts),
    );
    return;
  }
  process.stdout.write(
    `published run ${r.runId}: job ${r.job}, date ${r.date}, ${n(r.rows)} users in ${r.seconds.toFixed(1)} s ` +
      `(${n(r.usersPerSecond)} users/s)${r.rejected ? `, ${n(r.rejected)} rows skipped` : ''}` +
      `${r.previousRunId ? `, replacing run ${r.previousRunId}` : ''}\n`,
  );
}
