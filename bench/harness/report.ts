// Writes the benchmark results as JSON, a Markdown table and an SVG chart (throughput and RSS vs size).
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchEntry {
  model: string;
  users: number;
  /** ORT alone, COPY alone and end to end were measured in turns this many times; figures are medians */
  rounds?: number;
  e2e_users_per_s: number;
  ort_alone_users_per_s: number;
  ort_alone_one_session_users_per_s: number;
  copy_alone_users_per_s: number;
  scan_alone_users_per_s: number;
  peak_rss_mb: number;
  publish_ms: number;
  e2e_seconds: number;
  e2e_over_ort: number;
  e2e_over_copy: number;
  /** per round: the same figures, and the ratios inside that round */
  per_round?: { ort: number; copy: number; e2e: number; e2e_over_ort: number; e2e_over_copy: number; guard_share?: number }[];
  /** the last generation's run table, index and TOAST included, per user */
  disk_bytes_per_user?: number;
  timings_ms: Record<string, number>;
  /** the guard stage (profile, compare, gates) of a rerun, and its share of that run's total */
  guard_ms?: number;
  guard_share?: number;
  settings: Record<string, number>;
}

export interface BenchResults {
  when: string;
  machine: Record<string, unknown>;
  entries: BenchEntry[];
  api_rps?: number;
  api_p99_ms?: number;
  pgbench_tps?: number;
  lookup?: Record<string, unknown>;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function markdown(r: BenchResults): string {
  const lines = [
    `# Benchmark results (${r.when})`,
    '',
    `Machine: ${JSON.stringify(r.machine)}`,
    '',
    '| model | users | e2e users/s | ORT alone | ORT alone, 1 session | COPY alone | scan alone | e2e/ORT | e2e/COPY | peak RSS MB | publish ms | e2e s | disk B/user |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.entries.map(
      (e) =>
        `| ${e.model} | ${fmt(e.users)} | ${fmt(e.e2e_users_per_s)} | ${fmt(e.ort_alone_users_per_s)} | ${fmt(e.ort_alone_one_session_users_per_s)} | ${fmt(e.copy_alone_users_per_s)} | ${fmt(e.scan_alone_users_per_s)} | ${e.e2e_over_ort} | ${e.e2e_over_copy} | ${e.peak_rss_mb} | ${e.publish_ms} | ${e.e2e_seconds} | ${e.disk_bytes_per_user ?? ''} |`,
    ),
    '',
    `Medians of ${r.entries[0]?.rounds ?? 1} interleaved rounds (ORT alone, COPY alone, end to end in turns). Per round, e2e/ORT and e2e/COPY:`,
    ...r.entries.map(
      (e) =>
        `- ${e.model} ${fmt(e.users)}: ${(e.per_round ?? []).map((x) => `${x.e2e_over_ort} / ${x.e2e_over_copy}`).join(', ')}; stages of the median run (ms): ${JSON.stringify(e.timings_ms)}`,
    ),
    '',
    ...r.entries
      .filter((e) => e.guard_ms !== undefined)
      .map(
        (e) =>
          `Guardrails, ${e.model} ${fmt(e.users)}: ${fmt(e.guard_ms!)} ms, ${(e.guard_share! * 100).toFixed(1)}% of a rerun (median of ${e.rounds} interleaved rounds: ${(e.per_round ?? []).map((x) => `${((x.guard_share ?? 0) * 100).toFixed(1)}%`).join(', ')}; target <= 5%).`,
      ),
    '',
    'ORT alone runs in the shape predict uses (workers x intra-op threads, best of 3); "1 session" is one session with as many intra-op threads (the shape of the first measurement the project was designed on, 135k users/s).',
    '',
    'Targets (medians of 3 interleaved rounds): heavy e2e/ORT >= 0.8 at 1M and 10M; light e2e/COPY >= 0.6; peak RSS <= 1024 MB and at 10M <= 1.2x the 1M figure; publish <= 100 ms.',
  ];
  if (r.api_rps !== undefined) {
    lines.push(
      '',
      '| lookup | value |',
      '| --- | ---: |',
      `| API rps (wrk, 32 connections) | ${fmt(r.api_rps)} |`,
      `| API p99 ms | ${r.api_p99_ms} |`,
      `| pgbench tps (-M prepared, 32 clients) | ${fmt(r.pgbench_tps ?? 0)} |`,
      `| ratio | ${r.pgbench_tps ? (r.api_rps / r.pgbench_tps).toFixed(2) : 'n/a'} |`,
      '',
      'Targets: API rps >= 0.6 x pgbench tps; p99 <= 5 ms.',
    );
  }
  return lines.join('\n') + '\n';
}

/** Two panels side by side: users/s vs users (log x), and peak RSS vs users; one line per model. */
function svg(r: BenchResults): string {
  const W = 900,
    H = 360,
    pad = 55,
    pw = (W - 3 * pad) / 2,
    ph = H - 2 * pad;
  const models = [...new Set(r.entries.map((e) => e.model))];
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const sizes = r.entries.map((e) => e.users);
  const [xmin, xmax] = [Math.min(...sizes), Math.max(...sizes)];
  const lx = (u: number) => (xmax === xmin ? 0.5 : (Math.log10(u) - Math.log10(xmin)) / (Math.log10(xmax) - Math.log10(xmin)));
  const panel = (x0: number, title: string, value: (e: BenchEntry) => number, unit: string) => {
    const ymax = Math.max(...r.entries.map(value)) * 1.15 || 1;
    const px = (u: number) => x0 + lx(u) * pw;
    const py = (v: number) => pad + ph - (v / ymax) * ph;
    let out = `<text x="${x0 + pw / 2}" y="${pad - 20}" text-anchor="middle" font-weight="bold">${title}</text>`;
    out += `<line x1="${x0}" y1="${pad + ph}" x2="${x0 + pw}" y2="${pad + ph}" stroke="#333"/><line x1="${x0}" y1="${pad}" x2="${x0}" y2="${pad + ph}" stroke="#333"/>`;
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      out += `<text x="${x0 - 6}" y="${py(v) + 4}" text-anchor="end" font-size="10">${fmt(Math.round(v))}</text>`;
    }
    for (const u of [...new Set(sizes)])
      out += `<text x="${px(u)}" y="${pad + ph + 16}" text-anchor="middle" font-size="10">${u >= 1e6 ? `${u / 1e6}M` : `${u / 1e3}k`}</text>`;
    out += `<text x="${x0 + pw / 2}" y="${pad + ph + 34}" text-anchor="middle" font-size="11">users (log scale)</text>`;
    out += `<text x="${x0 - 45}" y="${pad + ph / 2}" font-size="11" transform="rotate(-90 ${x0 - 45} ${pad + ph / 2})" text-anchor="middle">${unit}</text>`;
    models.forEach((m, i) => {
      const pts = r.entries.filter((e) => e.model === m).sort((a, b) => a.users - b.users);
      out += `<polyline fill="none" stroke="${colours[i % 4]}" stroke-width="2" points="${pts.map((e) => `${px(e.users)},${py(value(e))}`).join(' ')}"/>`;
      for (const e of pts) out += `<circle cx="${px(e.users)}" cy="${py(value(e))}" r="3" fill="${colours[i % 4]}"/>`;
      out += `<text x="${x0 + pw - 60}" y="${pad + 14 + i * 14}" font-size="11" fill="${colours[i % 4]}">${m}</text>`;
    });
    return out;
  };
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>` +
    panel(pad, 'end-to-end throughput', (e) => e.e2e_users_per_s, 'users/s') +
    panel(2 * pad + pw, 'peak RSS of predict', (e) => e.peak_rss_mb, 'MB') +
    '</svg>\n'
  );
}

export function writeReport(dir: string, r: BenchResults): void {
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(path.join(dir, 'latest.md'), markdown(r));
  writeFileSync(path.join(dir, 'chart.svg'), svg(r));
}
