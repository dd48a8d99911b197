// `batchcast report` on a terminal: one line for the run, then the gates, the comparison, the outputs and
// the inputs as tables (text.ts); --json prints the loaded report as it is stored.

import type { Report } from '../../report/load-report.ts';
import { describeRun, reportTables } from '../../report/report-tables.ts';
import { formatTable } from './text.ts';

export function formatReport(rep: Report): string {
  const out = [describeRun(rep.run), ''];
  for (const t of reportTables(rep)) {
    out.push(t.title);
    if (t.note) out.push(`  ${t.note}`);
    if (t.rows.length) out.push(formatTable(t.headers, t.rows, t.right));
    else out.push('');
  }
  return out.join('\n');
}

export function printReport(rep: Report, flags: { json?: boolean; quiet?: boolean }, htmlFile?: string): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(htmlFile ? { ...rep, htmlFile } : rep) + '\n');
    return;
  }
  if (flags.quiet) return;
  process.stdout.write(formatReport(rep) + (htmlFile ? `wrote ${htmlFile}\n` : ''));
}
