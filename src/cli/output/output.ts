// What the CLI prints: results on stdout, for people (tables) or for scripts (--json); progress on stderr.
import type { PredictResult } from '../../run/predict.ts';
import { formatComparison, formatVerdicts } from './guard.ts';
import type { Comparison } from '../../guard/types.ts';
import type { DemoSummary } from '../../demo/run-demo.ts';
import type { Logger } from '../../log.ts';
import type { Progress } from '../../run/pipeline.ts';
import type { BackfillProgress } from '../../schedule/backfill.ts';
import { countByStatus, type DateOutcome } from '../../schedule/date-outcome.ts';
import type { LedgerRow, PruneOutcome, PublishOutcome } from '../../run/publish-generation.ts';

interface OutputFlags { json?: boolean; quiet?: boolean }

const n = (x: number) => Math.round(x).toLocaleString('en-US');

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
    process.stdout.write(`${r.status} run ${r.runId}: job ${r.job}, date ${r.date}, ${n(r.rows)} users in ${r.seconds.toFixed(1)} s; not published` +
      `${ref ? `; compared with run ${ref}` : '; no published generation to compare with (value gates only)'}\n` +
      (r.guard.comparison ? formatComparison(r.guard.comparison) : '') + formatVerdicts(r.guard.verdicts));
    return;
  }
  process.stdout.write(
    `published run ${r.runId}: job ${r.job}, date ${r.date}, ${n(r.rows)} users in ${r.seconds.toFixed(1)} s ` +
      `(${n(r.usersPerSecond)} users/s)${r.rejected ? `, ${n(r.rejected)} rows skipped` : ''}` +
      `${r.previousRunId ? `, replacing run ${r.previousRunId}` : ''}\n`,
  );
}

// Progress on a terminal only: the line is redrawn in place (\r, erase line), at most 5 times a second,
// and cut to the terminal width so it never wraps (a wrapped line cannot be redrawn). Without a terminal
// the run's own JSON log lines say what happens; a bar there would only be noise in the log collector.
const REDRAW_MS = 200;
// Rate over the last 5 s, not since the first chunk: a run speeds up once ORT is warm and the pipeline is
// full (measured: 45K rows/s at a third of a 200K-user run, 67K over the whole run), so the rate since
// the start would keep the ETA too long.
const RATE_WINDOW_MS = 5_000;

const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
/** 98.3K, 1.2M: keeps the progress line inside 80 columns. */
const compact = (x: number) => compactFormat.format(Math.round(x));

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
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
    redraw(`${bar(p.totalRows ? p.rowsWritten / p.totalRows : 1, 16)}  ` +
      `${done ? `done in ${duration((now - start) / 1000)}` : `ETA ${duration(eta)}`}  ${Number.isNaN(rate) ? '?' : compact(rate)} rows/s  ` +
      `read ${compact(p.rowsRead)}  scored ${compact(p.rowsScored)}  written ${compact(p.rowsWritten)}/${compact(p.totalRows)}`);
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
      rowsRead: p.rowsRead, rowsScored: p.rowsScored, rowsWritten: p.rowsWritten, totalRows: p.totalRows,
      rowsPerSecond: Math.round(rate), etaSeconds: rate > 0 ? Math.round((p.totalRows - p.rowsWritten) / rate) : null,
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
      redraw(`${o.date}  ${o.status.padEnd(11)}${o.runId ? `run ${o.runId}  ` : ''}${o.rows !== undefined ? `${n(o.rows)} rows  ` : ''}` +
        `${o.seconds !== undefined ? `${o.seconds.toFixed(1)} s` : ''}${o.status === 'failed' && o.note ? `  ${shortNote(o)}` : ''}`, true);
    }
    // Dates run side by side, so elapsed per finished date already accounts for the concurrency.
    const eta = u.done ? (elapsed / u.done) * (u.total - u.done) : NaN;
    if (u.done < u.total) {
      redraw(`${bar(u.total ? u.done / u.total : 1)}  ${u.done}/${u.total} dates  ${u.running} running  ${u.failed} failed  ` +
        `elapsed ${duration(elapsed)}  ETA ${duration(eta)}`);
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
    info: (m, f) => { clear(); log.info(m, f); },
    warn: (m, f) => { clear(); log.warn(m, f); },
    error: (m, f) => { clear(); log.error(m, f); },
    child: (f) => besideProgress(log.child(f)),
  };
}

/** Columns padded to their widest cell; the columns named in `right` are right-aligned (numbers). */
export function formatTable(headers: string[], rows: string[][], right: string[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells
    .map((c, i) => (right.includes(headers[i]) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
    .join('  ')
    .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** The note without the "job J, date D: " its error starts with (the row already says so), on one line. */
function shortNote(o: Pick<DateOutcome, 'job' | 'date' | 'note'>): string {
  const prefix = new RegExp(`^job ${o.job}, date ${o.date}[,:] *`);
  return (o.note ?? '').replace(prefix, '').replace(/\s+/g, ' ').slice(0, 200);
}

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
    o.date, o.status, o.runId !== undefined ? String(o.runId) : '', o.rows !== undefined ? n(o.rows) : '',
    o.seconds !== undefined ? o.seconds.toFixed(1) : '', shortNote(o),
  ]);
  const counts = Object.entries(countByStatus(r.dates)).map(([k, v]) => `${v} ${k}`).join(', ');
  process.stdout.write(formatTable(['date', 'status', 'run', 'rows', 'seconds', 'note'], rows, ['run', 'rows', 'seconds']) +
    `${r.dates.length} date(s): ${counts}; ${r.seconds.toFixed(1)} s; exit code ${r.exitCode}\n`);
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
    String(r.run_id), r.job, r.prediction_date, r.shards ? `${r.status} ${r.shards_done ?? 0}/${r.shards} shards` : r.status, r.published ? 'yes' : '', r.model_version ?? '',
    n(r.rows_written), r.timings?.total !== undefined ? (r.timings.total / 1000).toFixed(1) : '',
    r.started_at.toISOString().slice(0, 19).replace('T', ' '), r.archived_to ? 'archived' : r.pruned_at ? 'pruned' : '',
    shortNote({ job: r.job, date: r.prediction_date, note: r.error ?? '' }),
  ]);
  process.stdout.write(formatTable(['run', 'job', 'date', 'status', 'published', 'model', 'rows', 'seconds', 'started (UTC)', 'table', 'error'],
    rows, ['run', 'rows', 'seconds']));
}

export function printPublish(p: PublishOutcome, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(p) + '\n');
    return;
  }
  if (flags.quiet) return;
  process.stdout.write(p.action === 'unchanged'
    ? `run ${p.runId} is already the published generation of job ${p.job}, date ${p.date}; nothing changed\n`
    : `job ${p.job}, date ${p.date} now serves run ${p.runId} (${p.action}${p.previousRunId !== undefined ? ` from run ${p.previousRunId}` : ''}, ${p.ms.toFixed(0)} ms)\n`);
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
      out.push(`job ${j.job}, date ${d.date}: ${d.archived ? `archived run ${d.publishedRunId} (${n(d.archived.rows)} rows) to ${d.archived.path}, ` : ''}` +
        `${d.publishedRunId !== undefined ? 'no longer served, ' : ''}dropped run(s) ${d.dropped.join(', ') || 'none'}`);
    }
    if (j.newest) out.push(`job ${j.job}: keeps ${j.kept} published date(s), ${j.keepFrom} to ${j.newest}`);
    if (j.skippedBusy.length) out.push(`job ${j.job}: busy, left for next time: ${j.skippedBusy.join(', ')}`);
  }
  if (r.skippedBusy.length) out.push(`busy, left for next time: ${r.skippedBusy.join(', ')}`);
  process.stdout.write(out.length ? `${out.join('\n')}\n` : 'nothing to prune\n');
}

export function printDemoSummary(s: DemoSummary, flags: OutputFlags, embedded = false): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
    return;
  }
  const r = s.result;
  const out: string[] = [];
  out.push('', `Published ${n(r.rows)} users' recommendations for ${r.date} (job ${r.job}, run ${r.runId}, model ${r.modelVersion})`);
  out.push(`in ${r.seconds.toFixed(1)} s: ${n(r.usersPerSecond)} users/s end to end, publish ${r.timings.publish} ms.`, '');
  for (const { user, routes } of s.samples) {
    const likes = Object.entries(user)
      .filter(([k, v]) => k.startsWith('likes_') && Number(v) >= 0.5)
      .map(([k]) => k.slice(6));
    out.push(
      `User ${user.user_id}: likes ${likes.join(', ') || 'nothing in particular'}; prefers ~${Number(user.preferred_km).toFixed(1)} km; ` +
        `forecast ${Number(user.rain_mm).toFixed(1)} mm rain, ${Number(user.temp_c).toFixed(1)} °C${Number(user.is_weekend) ? ', weekend' : ''}`,
    );
    for (const route of routes.slice(0, 5)) {
      out.push(`  ${String(route.rank).padStart(2)}. ${route.name.padEnd(34)} ${route.km.toFixed(1).padStart(5)} km  ${route.tags.padEnd(24)} score ${route.score.toFixed(3)}`);
    }
    out.push('');
  }
  const w = s.weather;
  if (w.rainyUsers > 0 && w.dryUsers > 0) {
    out.push(`Weather: where rain is forecast (${n(w.rainyUsers)} of the first 5,000 users), the top 3 routes average ${w.rainyKm.toFixed(1)} km;` +
      ` where it is dry (${n(w.dryUsers)} users), ${w.dryKm.toFixed(1)} km.`, '');
  }
  if (s.precision !== 'fp32') {
    // Comparing this generation with an fp32 one user by user is the guardrails comparison's job (not here yet).
    out.push(`This ran the ${s.precision} variant of the model (same weights). How far it moves users' top 10 from fp32's,`,
      `measured on 1M users: bench/README.md, "Speed against agreement" (rerun: npm run bench -- --variants fp32,${s.precision}).`, '');
  }
  // Commands that work on a fresh machine: `sql` starts the embedded server again when nothing keeps it up.
  out.push('Next, query the published recommendations with SQL:');
  out.push(`  npx batchcast sql "select rank, item_id, score from batchcast.recommendations where job = 'demo' and prediction_date = '${r.date}' and user_id = '1' order by rank"`);
  out.push(`  npx batchcast sql "select run_id, prediction_date, status, rows_written from batchcast.runs order by run_id desc limit 5"`);
  if (embedded) {
    out.push('Keep the embedded PostgreSQL up for psql, DBeaver or `npx batchcast serve`:');
    out.push('  npx batchcast db start', '  psql "$(npx batchcast db url)"', '  npx batchcast db stop');
  } else {
    out.push('or with psql: psql "$DATABASE_URL"');
  }
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}
