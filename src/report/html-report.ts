// `batchcast report --html FILE`: one self-contained page (inline CSS and SVG, no script, no external
// asset) with the same tables as the terminal and four charts: feature drift, score distributions,
// item popularity and top-K overlap.
import { writeFileSync } from 'node:fs';
import { BadInputError } from '../errors.ts';
import type { GateVerdict } from '../store/profiles.ts';
import type { Report } from './load-report.ts';
import { describeRun, reportTables, type Table } from './report-tables.ts';
import { COLORS, driftBars, escapeXml as esc, overlapBars, popularityCurve, scoreHistogram, short, valueBars } from './svg-charts.ts';

/** Discrete features drawn by value at most; the most drifted first. */
const VALUE_CHARTS = 12;

/** Bars by value for the discrete features whose counts were taken on the reference's values. */
function valueCharts(rep: Report): string[] {
  const c = rep.comparison;
  const refInputs = rep.reference?.inputs;
  if (!c || !rep.inputs || !refInputs || rep.inputs.referenceRunId !== c.referenceRunId) return [];
  const refs = new Map(refInputs.features.map((f) => [f.name, f.bins]));
  const nows = new Map(rep.inputs.features.map((f) => [f.name, f.histogram]));
  const shares = (counts: number[]) => {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    return counts.map((x) => x / total);
  };
  return c.psi
    .filter((p) => p.kind === 'values')
    .sort((a, b) => b.psi - a.psi)
    .slice(0, VALUE_CHARTS)
    .flatMap((p) => {
      const ref = refs.get(p.feature);
      const now = nows.get(p.feature);
      if (!ref || now?.kind !== 'values' || now.edges.length !== ref.edges.length) return [];
      const [r, n] = [shares(ref.counts), shares(now.counts)];
      const labels = [...ref.edges.map(short), 'other', 'missing'];
      const bars = labels.map((label, j) => ({ label, ref: r[j], now: n[j] })).filter((b, j) => j < ref.edges.length || b.ref || b.now);
      const over = p.psi > c.psiDriftThreshold;
      return [
        figure(
          valueBars(p.feature, bars, p.psi, over),
          `${p.feature} by value`,
          `A discrete feature (${ref.edges.length} values in the reference), one bin per value: the share of rows at each value in the reference (grey) and this run; PSI ${short(p.psi)}, JS distance ${short(p.js ?? 0)}.`,
        ),
      ];
    });
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 20px; margin-bottom: 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.sub { color: #4b5563; margin: 0 0 12px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600; color: #fff; }
.verdict.pass { background: #15803d; } .verdict.fail { background: ${COLORS.over}; } .verdict.none { background: #6b7280; }
table { border-collapse: collapse; margin: 4px 0 8px; } th, td { padding: 3px 10px; border-bottom: 1px solid #e5e7eb; text-align: left; }
th { background: #f9fafb; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { color: ${COLORS.over}; font-weight: 600; }
figure { margin: 8px 0 20px; } figcaption { color: #4b5563; font-size: 13px; margin-top: 2px; max-width: 640px; }
svg text { font-family: system-ui, sans-serif; fill: #111827; }
.note { color: #6b7280; font-style: italic; }
`;

function table(t: Table): string {
  const cls = (h: string) => (t.right.includes(h) ? ' class="num"' : '');
  const head = `<tr>${t.headers.map((h) => `<th${cls(h)}>${esc(h)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map(
      (r) => `<tr${r.includes('FAIL') ? ' class="fail"' : ''}>${r.map((c, i) => `<td${cls(t.headers[i])}>${esc(c)}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<h2>${esc(t.title)}</h2>${t.note ? `<p class="note">${esc(t.note)}</p>` : ''}${t.rows.length ? `<table>${head}${body}</table>` : ''}`;
}

function figure(svg: string, title: string, caption: string): string {
  return `<figure>${svg}<figcaption><b>${esc(title)}.</b> ${esc(caption)}</figcaption></figure>`;
}

function charts(rep: Report): string[] {
  const out: string[] = [];
  const c = rep.comparison;
  const ref = rep.reference?.outputs ?? null;
  const both = ref ? 'reference (grey) and this run (blue) on one axis' : 'this run alone (no reference)';
  if (c?.psi.length) {
    out.push(
      figure(
        driftBars(c.psi, c.psiDriftThreshold),
        'Feature drift',
        `PSI of each feature from exact counts on the reference's bins: one per value for a discrete feature, else ranges between its deciles with a bin of its own for each edge (epsilon ${c.psiEpsilon} for empty bins); red bars are over the drift threshold. ${(c.driftedFeatureShare * 100).toFixed(1)}% of features drifted.${c.psiNote ? ` Note: ${c.psiNote}.` : ''}`,
      ),
    );
    out.push(...valueCharts(rep));
  } else {
    out.push(
      `<p class="note">No feature drift chart: ${c ? 'the comparison has no features' : 'this run has no reference to compare with'}.</p>`,
    );
  }
  if (rep.outputs) {
    out.push(
      figure(
        scoreHistogram('Rank-1 score per user', 'top1-scores', rep.outputs.top1Percentiles, ref?.top1Percentiles ?? null),
        'Rank-1 score per user',
        `Each user's best score: ${both}, drawn from the 101 stored percentiles.`,
      ),
    );
    out.push(
      figure(
        scoreHistogram('All stored scores', 'scores', rep.outputs.scorePercentiles, ref?.scorePercentiles ?? null),
        'All stored scores',
        `Every stored top-K score: ${both}.`,
      ),
    );
    out.push(
      figure(
        popularityCurve(rep.outputs.itemCounts, ref?.itemCounts ?? null),
        'Item popularity',
        `Items from most to least recommended. Coverage ${(rep.outputs.catalogCoverage * 100).toFixed(1)}%, Gini ${rep.outputs.gini.toFixed(3)}, top item ${(rep.outputs.topItemShare * 100).toFixed(2)}% of slots.`,
      ),
    );
  } else {
    out.push('<p class="note">No score or popularity charts: this run has no output profile.</p>');
  }
  if (c?.overlapHistogram.length) {
    out.push(
      figure(
        overlapBars(c.overlapHistogram),
        'Top-K overlap with the reference',
        `How many of their ${c.overlapHistogram.length - 1} items each of ${c.sampleUsers.toLocaleString('en-US')} sampled users keeps from the reference: mean overlap@K ${c.meanOverlapAtK.toFixed(3)}, mean RBO ${c.meanRbo.toFixed(3)}.`,
      ),
    );
  }
  return out;
}

/** "max_feature_scale_ratio: feature f03 x100": the features or the expectation behind a failed gate (verdicts come causes first). */
const gateAndCause = (v: GateVerdict) =>
  v.kind === 'expectation' && v.detail ? `expectation ${v.detail}` : v.detail ? `${v.gate}: ${v.detail}` : v.gate;

export function renderReportHtml(rep: Report): string {
  const failed = rep.verdicts.filter((v) => v.value !== null && !v.passed);
  const verdict = !rep.verdicts.length
    ? '<span class="verdict none">no gates evaluated</span>'
    : failed.length
      ? `<span class="verdict fail">${failed.length} gate(s) failed: ${esc(failed.map(gateAndCause).join('; '))} (run ${esc(rep.run.status)})</span>`
      : '<span class="verdict pass">all gates passed</span>';
  const [gates, ...rest] = reportTables(rep);
  const title = `batchcast report: job ${rep.run.job}, ${rep.run.date}, run ${rep.run.runId}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="sub">${esc(describeRun(rep.run))}${rep.reference ? ` — compared with run ${rep.reference.run.runId} (${esc(rep.reference.run.date)}, ${esc(rep.reference.run.status)})` : ' — no reference'}</p>
<p>${verdict}</p>
${table(gates)}
<h2>Charts</h2>
${charts(rep).join('\n')}
${rest.map(table).join('\n')}
</body></html>
`;
}

export function writeReportHtml(rep: Report, file: string): void {
  try {
    writeFileSync(file, renderReportHtml(rep));
  } catch (err) {
    throw new BadInputError(
      `cannot write the report of run ${rep.run.runId} to ${file}: ${(err as Error).message}; choose another --html path`,
      { cause: err },
    );
  }
}
