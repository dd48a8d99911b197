// Progress on stderr while a run or a backfill works: a redrawn line on a terminal, log lines elsewhere.
import type { Logger } from '../../log.ts';
import type { Progress } from '../../run/pipeline.ts';
import type { BackfillProgress } from '../../schedule/backfill.ts';
import { wholeNumber as n, shortNote } from './text.ts';

// Progress on a terminal only: the line is redrawn in place (\r, erase line), at most 5 times a second,
// and cut to the terminal width so it never wraps (a wrapped line cannot be redrawn). Without a terminal
// the run's own JSON log lines say what happens; a bar there would only be noise in the log collector.
const REDRAW_MS = 200;
// Rate over the last 5 s, not since the first chunk: a run speeds up once ORT is warm and the pipeline is
// full (measured: 45K rows/s at a third of a 200K-user run, 67K over the whole run), so the rate since
// the start would keep the ETA too long.
const RATE_WINDOW_MS = 5_000;

// Made on first use: building its locale data took ~20 ms, which `batchcast --help` should not pay.
let compactFormat: Intl.NumberFormat | undefined;
/** 98.3K, 1.2M: keeps the progress line inside 80 columns. */
const compact = (x: number) =>
  (compactFormat ??= new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 })).format(Math.round(x));

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60
    ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, fraction));
  return `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

/** Replaces the current line; `keep` ends it, so the next redraw starts a new line below. */
function redraw(text: string, keep = false): void {
  const cols = process.stderr.columns || 100;
  process.stderr.write(`\r\x1b[2K${text.length >= cols ? text.slice(0, cols - 1) : text}${keep ? '\n' : ''}`);
}

/** The progress of one run on a terminal: rows read, scored and written, rate and ETA. Undefined without one. */
export function progressPrinter(): ((p: Progress & { totalRows: number }) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  // Timed from the first chunk, not from start-up: model load and worker start are not rows.
  let start = 0;
  const samples: { t: number; rows: number }[] = [];
  let last = 0;
  let finished = false;
  return (p) => {
    const now = performance.now();
    if (!samples.length) {
      start = now;
      samples.push({ t: now, rows: p.rowsWritten });
    }
    const done = p.rowsWritten >= p.totalRows;
    if (finished || (now - last < REDRAW_MS && !done)) return;
    last = now;
    samples.push({ t: now, rows: p.rowsWritten });
    while (samples.length > 2 && now - samples[0].t > RATE_WINDOW_MS) samples.shift();
    const span = (now - samples[0].t) / 1000;
    // Under half a second of samples says nothing about the rate yet.
    const rate = span >= 0.5 ? (p.rowsWritten - samples[0].rows) / span : NaN;
    const eta = done ? 0 : rate > 0 ? (p.totalRows - p.rowsWritten) / rate : NaN;
    // ETA and rate first: on a narrow terminal the end of the line is what gets cut.
    redraw(
      `${bar(p.totalRows ? p.rowsWritten / p.totalRows : 1, 16)}  ` +
        `${done ? `done in ${duration((now - start) / 1000)}` : `ETA ${duration(eta)}`}  ${Number.isNaN(rate) ? '?' : compact(rate)} rows/s  ` +
        `read ${compact(p.rowsRead)}  scored ${compact(p.rowsScored)}  written ${compact(p.rowsWritten)}/${compact(p.totalRows)}`,
    );
    if (done) {
      finished = true;
      process.stderr.write('\n');
    }
  };
}

/** Without a terminal (cron, Kubernetes, --json): a progress log line every `everyMs`, for log-based dashboards. */
export function progressLog(log: Logger, everyMs = 10_000): (p: Progress & { totalRows: number }) => void {
  const start = performance.now();
  let last = start;
  return (p) => {
    const now = performance.now();
    if (now - last < everyMs) return;
    last = now;
    const rate = p.rowsWritten / ((now - start) / 1000);
    log.info('progress', {
      rowsRead: p.rowsRead,
      rowsScored: p.rowsScored,
      rowsWritten: p.rowsWritten,
      totalRows: p.totalRows,
      rowsPerSecond: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round((p.totalRows - p.rowsWritten) / rate) : null,
    });
  };
}

/** Backfill on a terminal: a line per finished date, and a bar for the whole range under them. */
export function backfillProgress(): ((u: BackfillProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const start = performance.now();
  return (u) => {
    const elapsed = (performance.now() - start) / 1000;
    if (u.last) {
      const o = u.last;
      redraw(
        `${o.date}  ${o.status.padEnd(11)}${o.runId ? `run ${o.runId}  ` : ''}${o.rows !== undefined ? `${n(o.rows)} rows  ` : ''}` +
          `${o.seconds !== undefined ? `${o.seconds.toFixed(1)} s` : ''}${o.status === 'failed' && o.note ? `  ${shortNote(o)}` : ''}`,
        true,
      );
    }
    // Dates run side by side, so elapsed per finished date already accounts for the concurrency.
    const eta = u.done ? (elapsed / u.done) * (u.total - u.done) : NaN;
    if (u.done < u.total) {
      redraw(
        `${bar(u.total ? u.done / u.total : 1)}  ${u.done}/${u.total} dates  ${u.running} running  ${u.failed} failed  ` +
          `elapsed ${duration(elapsed)}  ETA ${duration(eta)}`,
      );
    } else {
      redraw('');
    }
  };
}

/** A logger whose lines erase the progress line first instead of being glued to its end. */
export function besideProgress(log: Logger): Logger {
  const clear = () => process.stderr.write('\r\x1b[2K');
  return {
    debug: (m, f) => log.debug(m, f),
    info: (m, f) => {
      clear();
      log.info(m, f);
    },
    warn: (m, f) => {
      clear();
      log.warn(m, f);
    },
    error: (m, f) => {
      clear();
      log.error(m, f);
    },
    child: (f) => besideProgress(log.child(f)),
  };
}
