// The report's figures as tables of strings, shared by the terminal (src/cli/output/report.ts) and the HTML page
// (html-report.ts), so both always show the same numbers.
import type { Report, RunSummary } from './load-report.ts';

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  /** columns to right-align (numbers) */
  right: string[];
  /** a line under the title when the table is empty or needs a word of context */
  note?: string;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');

/** Up to 4 significant digits, no exponent for everyday magnitudes; '' for a missing figure. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return int(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '' : `${num(x * 100)}%`);

export function describeRun(r: RunSummary): string {
  return (
    `run ${r.runId}: job ${r.job}, date ${r.date}, status ${r.status}${r.published ? ' (published)' : ''}, ` +
    `model ${r.modelVersion ?? '?'}, ${int(r.rowsWritten)} users${r.seconds !== null ? ` in ${r.seconds.toFixed(1)} s` : ''}`
  );
}

export function gateTable(rep: Report): Table {
  return {
    title: 'Gates',
    headers: ['gate', 'kind', 'value', 'threshold', 'verdict', 'about'],
    rows: rep.verdicts.map((v) => [
      v.gate,
      v.kind,
      num(v.value),
      num(v.threshold),
      v.value === null ? 'skipped' : v.passed ? 'pass' : 'FAIL',
      v.detail ?? '',
    ]),
    right: ['value', 'threshold'],
    note: rep.verdicts.length ? undefined : 'no gate verdicts recorded for this run',
  };
}

export function comparisonTable(rep: Report): Table {
  const c = rep.comparison;
  const title = `Comparison with ${rep.reference ? `run ${rep.reference.run.runId} (${rep.reference.run.date})` : 'the reference'}`;
  if (!c) {
    return {
      title,
      headers: ['figure', 'value'],
      rows: [],
      right: ['value'],
      note: 'no comparison: a first run has no reference, and only value gates apply to it',
    };
  }
  const worst = c.psi.reduce<{ feature: string; psi: number } | undefined>((m, p) => (!m || p.psi > m.psi ? p : m), undefined);
  return {
    title,
    headers: ['figure', 'value'],
    rows: [
      ['drifted feature share', `${pct(c.driftedFeatureShare)} (PSI > ${num(c.psiDriftThreshold)})`],
      ['max feature PSI', worst ? `${num(worst.psi)} (${worst.feature})` : ''],
      ['PSI epsilon for empty bins', num(c.psiEpsilon)],
      ['item JS distance', num(c.itemJsDistance)],
      ['mean overlap@K', num(c.meanOverlapAtK)],
      ['mean RBO (p = 0.9)', num(c.meanRbo)],
      ['users sampled for overlap', int(c.sampleUsers)],
      ['users ratio (now / reference)', num(c.usersRatio)],
    ],
    right: ['value'],
  };
}

export function outputTable(rep: Report): Table {
  const o = rep.outputs;
  const r = rep.reference?.outputs ?? null;
  const headers = r ? ['figure', 'this run', 'reference'] : ['figure', 'this run'];
  if (!o) return { title: 'Outputs', headers, rows: [], right: headers.slice(1), note: 'no output profile recorded for this run' };
  const row = (name: string, f: (p: NonNullable<typeof o>) => string) => (r ? [name, f(o), f(r)] : [name, f(o)]);
  return {
    title: 'Outputs',
    headers,
    rows: [
      row('users scored', (p) => int(p.usersScored)),
      row('rows read', (p) => int(p.rowsRead)),
      row('users scored / rows read', (p) => num(p.scoredRatio)),
      row('K', (p) => int(p.k)),
      row('items in catalogue', (p) => int(p.items)),
      row('catalogue coverage', (p) => pct(p.catalogCoverage)),
      row('Gini of item popularity', (p) => num(p.gini)),
      row('top item share', (p) => `${pct(p.topItemShare)}${p.topItemId !== null ? ` (${p.topItemId})` : ''}`),
      row('rank-1 score p5 / p50 / p95', (p) => [5, 50, 95].map((q) => num(p.top1Percentiles[q])).join(' / ')),
      row('all scores p5 / p50 / p95', (p) => [5, 50, 95].map((q) => num(p.scorePercentiles[q])).join(' / ')),
    ],
    right: headers.slice(1),
  };
}

export function inputTable(rep: Report): Table {
  const headers = ['feature', 'rows', 'nulls', 'NaN', '±Inf', 'mean', 'std', 'min', 'p50', 'max', 'PSI'];
  const i = rep.inputs;
  if (!i) return { title: 'Inputs', headers, rows: [], right: headers.slice(1), note: 'no input profile recorded for this run' };
  const psi = new Map(rep.comparison?.psi.map((p) => [p.feature, p.psi]) ?? []);
  const threshold = rep.comparison?.psiDriftThreshold ?? Infinity;
  return {
    title: `Inputs (${int(i.rows)} rows)`,
    headers,
    rows: i.features.map((f) => {
      const p = psi.get(f.name);
      return [
        f.name,
        int(f.rows),
        int(f.nulls),
        int(f.nans),
        int(f.infs),
        num(f.mean),
        num(f.std),
        num(f.min),
        num(f.quantiles?.p50),
        num(f.max),
        p === undefined ? '' : `${num(p)}${p > threshold ? ' drifted' : ''}`,
      ];
    }),
    right: headers.slice(1),
  };
}

export function reportTables(rep: Report): Table[] {
  return [gateTable(rep), comparisonTable(rep), outputTable(rep), inputTable(rep)];
}
