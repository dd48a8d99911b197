// What `schedule --dry-run` prints: per job, where its schedule starts, what a pass would do now, and the
// next ticks.
import type { SchedulePreview } from '../../schedule/preview-schedule.ts';
import { formatTable, type OutputFlags } from './text.ts';

const FROM = {
  'job file': 'schedule.start_date',
  'earliest data': 'the earliest date with data',
  'first run': "the job's first run",
  none: '',
};

export function printSchedulePreview(previews: SchedulePreview[], flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(previews) + '\n');
    return;
  }
  const out: string[] = [];
  for (const p of previews) {
    const start = p.start.date ? `starts ${p.start.date} (${FROM[p.start.from]})` : 'no start date';
    out.push(
      `job ${p.job}: "${p.cron}" ${p.timezone}, catch-up ${p.catchupDays} day(s), ${start}, last succeeded ${p.lastSucceeded ?? 'never'}`,
    );
    if (p.waitForData)
      out.push(
        `  a date without files waits up to ${p.waitForData.timeoutSeconds} s (looking every ${p.waitForData.pollSeconds} s), then fails as late (exit 7)`,
      );
    if (p.catchUp.length) {
      out.push(`  due now (schedule --once would do these, oldest first):`);
      const rows = p.catchUp.map((d) => [d.date, d.action, d.files ? 'yes' : 'no', d.note]);
      out.push(
        ...formatTable(['date', 'action', 'files', 'note'], rows)
          .trimEnd()
          .split('\n')
          .map((l) => `    ${l}`),
      );
    } else out.push('  nothing due now');
    out.push('  next runs:');
    for (const t of p.next) out.push(`    ${t.at.slice(0, 16).replace('T', ' ')} UTC  scores ${t.date}`);
  }
  process.stdout.write(out.join('\n') + '\nnothing was run: this is a preview (schedule --dry-run)\n');
}
