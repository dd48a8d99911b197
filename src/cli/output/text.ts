// What every printer shares: the flags they take, whole numbers as people read them, and a plain-text table.
import type { DateOutcome } from '../../schedule/date-outcome.ts';

/** --json prints the result for scripts; --quiet prints nothing but errors. */
export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

/** 1,234,567 */
export const wholeNumber = (x: number) => Math.round(x).toLocaleString('en-US');

/** Columns padded to their widest cell; the columns named in `right` are right-aligned (numbers). */
export function formatTable(headers: string[], rows: string[][], right: string[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.includes(headers[i]) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** The note without the "job J, date D: " its error starts with (the row already says so), on one line. */
export function shortNote(o: Pick<DateOutcome, 'job' | 'date' | 'note'>): string {
  const prefix = new RegExp(`^job ${o.job}, date ${o.date}[,:] *`);
  return (o.note ?? '').replace(prefix, '').replace(/\s+/g, ' ').slice(0, 200);
}
