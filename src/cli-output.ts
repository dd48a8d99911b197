// What the CLI prints on stdout: results for people (tables) or for scripts (--json).
import type { PredictResult } from './run/predict.ts';
import type { DemoSummary } from './demo/run-demo.ts';
import type { Progress } from './run/pipeline.ts';

interface OutputFlags { json?: boolean; quiet?: boolean }

const n = (x: number) => Math.round(x).toLocaleString('en-US');

export function printPredictResult(r: PredictResult, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (flags.quiet) return;
  process.stdout.write(
    `published run ${r.runId}: job ${r.job}, date ${r.date}, ${n(r.rows)} users in ${r.seconds.toFixed(1)} s ` +
      `(${n(r.usersPerSecond)} users/s)${r.rejected ? `, ${n(r.rejected)} rows skipped` : ''}` +
      `${r.previousRunId ? `, replacing run ${r.previousRunId}` : ''}\n`,
  );
}

/** A one-line progress display on a terminal: rows read, scored and written, rate and ETA. */
export function progressPrinter(): ((p: Progress & { totalRows: number }) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const start = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 200 && p.rowsWritten < p.totalRows) return;
    last = now;
    const rate = p.rowsWritten / ((now - start) / 1000);
    const eta = rate > 0 ? (p.totalRows - p.rowsWritten) / rate : 0;
    const pct = p.totalRows ? (100 * p.rowsWritten) / p.totalRows : 100;
    const width = 24;
    const bar = '#'.repeat(Math.round((pct / 100) * width)).padEnd(width, '.');
    process.stderr.write(
      `\r[${bar}] ${pct.toFixed(0).padStart(3)}%  read ${n(p.rowsRead)}  scored ${n(p.rowsScored)}  written ${n(p.rowsWritten)}/${n(p.totalRows)}  ${n(rate)}/s  ETA ${eta.toFixed(0)}s `,
    );
    if (p.rowsWritten >= p.totalRows) process.stderr.write('\n');
  };
}

export function printDemoSummary(s: DemoSummary, flags: OutputFlags): void {
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
  out.push('Next, query the published recommendations with SQL:');
  out.push(`  select * from batchcast.recommendations where job = 'demo' and prediction_date = '${r.date}' and user_id = '1' order by rank;`);
  out.push(`  select * from batchcast.runs order by run_id desc limit 5;`);
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}
