// Inline SVG charts for the HTML report: plain strings, no script, no external asset, so the page renders
// the same from a file, a mail attachment or a CI artifact. Each chart is an <svg data-chart="..."> whose
// marks carry a class (bar, ref, new, threshold) that the browser test counts.
import type { Percentiles } from '../store/profiles.ts';

const W = 640;
const PAD = { left: 48, right: 16, top: 28, bottom: 34 };
export const COLORS = { new: '#2563eb', ref: '#9ca3af', over: '#dc2626', axis: '#374151', grid: '#e5e7eb' };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Short numbers for axis ticks and labels: 0.0123, 1.23, 12.3, 1.2k. */
export function short(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 10_000) return `${(x / 1000).toFixed(0)}k`;
  if (a >= 1000) return `${(x / 1000).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 0.01) return String(Number(x.toPrecision(3)));
  if (a >= 1e-4) return String(Number(x.toPrecision(2)));
  return x.toExponential(1);
}

function svg(chart: string, height: number, title: string, body: string[]): string {
  return (
    `<svg data-chart="${chart}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${escapeXml(title)}">` +
    `<title>${escapeXml(title)}</title>${body.join('')}</svg>`
  );
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

function legend(items: { label: string; color: string }[], y = 14): string {
  return items
    .map((it, i) => {
      const x = PAD.left + i * 190;
      return `<rect x="${x}" y="${y - 9}" width="12" height="10" fill="${it.color}"/>${text(x + 17, y, it.label, 'font-size="12"')}`;
    })
    .join('');
}

/** The smallest of 1, 2, 2.5, 5 x 10^n at or above v: axis tops whose quarters read well (5%, 10%, ...). */
export function niceMax(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v * (1 - 1e-9)) ?? 10) * p;
}

/** A vertical-value frame: y gridlines with labels from 0 to yMax, x labels under the plot. */
function frame(height: number, yMax: number, yUnit: string, xLabels: { x: number; label: string }[], xTitle: string): string[] {
  const plotH = height - PAD.top - PAD.bottom;
  const out: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    out.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${COLORS.grid}"/>`);
    out.push(text(PAD.left - 4, y + 4, `${short((yMax * i) / 4)}${yUnit}`, 'font-size="10" text-anchor="end"'));
  }
  for (const l of xLabels) out.push(text(l.x, height - PAD.bottom + 14, l.label, 'font-size="10" text-anchor="middle"'));
  out.push(text((PAD.left + W - PAD.right) / 2, height - 4, xTitle, 'font-size="11" text-anchor="middle"'));
  return out;
}

/**
 * One horizontal bar per feature, PSI against the drift threshold (dashed line). The axis runs to 4x the
 * threshold or the largest PSI, whichever is smaller (at least 2x the threshold): a feature scaled x1000
 * has a PSI of 10 or more and would flatten every other bar to nothing, so such bars stop at the edge
 * with their value printed. Every bar is at least 1 px wide, so a PSI of 0 still shows where it is.
 */
export function driftBars(psi: { feature: string; psi: number }[], threshold: number): string {
  const rowH = 18;
  const labelW = 150;
  const height = PAD.top + psi.length * rowH + PAD.bottom;
  const maxPsi = Math.max(0, ...psi.map((p) => (Number.isFinite(p.psi) ? p.psi : 0)));
  const axisMax = Math.max(2 * threshold, Math.min(4 * threshold, maxPsi)) || 1;
  const x0 = labelW;
  const plotW = W - PAD.right - 60 - x0;
  const scale = (v: number) => (Math.min(v, axisMax) / axisMax) * plotW;
  const out: string[] = [
    legend([
      { label: `PSI ≤ ${short(threshold)}`, color: COLORS.new },
      { label: 'drifted', color: COLORS.over },
    ]),
  ];
  psi.forEach((p, i) => {
    const y = PAD.top + i * rowH;
    const v = Number.isFinite(p.psi) ? p.psi : axisMax;
    const over = !(p.psi <= threshold);
    const w = Math.max(1, scale(v));
    out.push(text(x0 - 6, y + 12, p.feature.length > 22 ? `${p.feature.slice(0, 21)}…` : p.feature, 'font-size="11" text-anchor="end"'));
    out.push(
      `<rect class="bar${over ? ' over' : ''}" x="${x0}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${over ? COLORS.over : COLORS.new}"><title>${escapeXml(`${p.feature}: PSI ${p.psi}`)}</title></rect>`,
    );
    out.push(text(x0 + w + 4, y + 12, `${short(p.psi)}${v > axisMax ? ' ›' : ''}`, 'font-size="10"'));
  });
  const tx = x0 + scale(threshold);
  const bottom = PAD.top + psi.length * rowH;
  out.push(
    `<line class="threshold" x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${PAD.top - 4}" y2="${bottom + 4}" stroke="${COLORS.over}" stroke-dasharray="4 3" stroke-width="1.5"/>`,
  );
  out.push(text(tx, bottom + 16, `threshold ${short(threshold)}`, `font-size="10" text-anchor="middle" fill="${COLORS.over}"`));
  out.push(`<line x1="${x0}" x2="${x0}" y1="${PAD.top - 4}" y2="${bottom}" stroke="${COLORS.axis}"/>`);
  out.push(text(x0 + plotW, bottom + 16, short(axisMax), 'font-size="10" text-anchor="end"'));
  out.push(
    text((x0 + W - PAD.right) / 2, height - 4, 'population stability index (reference bins)', 'font-size="11" text-anchor="middle"'),
  );
  return svg('drift', height, 'Feature drift: PSI per feature against the threshold', out);
}

/**
 * Share of the distribution in each bin, from 101 percentiles: between p_i and p_i+1 lies 1% of the
 * values, taken as spread evenly (a tie, p_i = p_i+1, puts its 1% in the bin holding that value).
 */
export function binsFromPercentiles(p: Percentiles, edges: number[]): number[] {
  const bins = new Array<number>(edges.length - 1).fill(0);
  const binOf = (v: number) => {
    for (let b = 0; b + 1 < bins.length; b++) if (v < edges[b + 1]) return b;
    return bins.length - 1;
  };
  const step = 1 / (p.length - 1);
  for (let i = 0; i + 1 < p.length; i++) {
    const lo = p[i];
    const hi = p[i + 1];
    if (!(hi > lo)) {
      bins[binOf(lo)] += step;
      continue;
    }
    for (let b = 0; b < bins.length; b++) {
      const overlap = Math.min(hi, edges[b + 1]) - Math.max(lo, edges[b]);
      if (overlap > 0) bins[b] += (step * overlap) / (hi - lo);
    }
  }
  return bins;
}

/** Reference (grey) and new (blue) score distributions on one shared axis, drawn from their percentiles. */
export function scoreHistogram(title: string, chart: string, current: Percentiles, reference: Percentiles | null, bins = 40): string {
  const height = 220;
  const all = reference ? [...current, ...reference] : current;
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const series = [{ name: 'new', shares: binsFromPercentiles(current, edges), color: COLORS.new }];
  if (reference) series.unshift({ name: 'ref', shares: binsFromPercentiles(reference, edges), color: COLORS.ref });
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.shares)) * 100);
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const bw = plotW / bins;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ x: PAD.left + f * plotW, label: short(lo + f * (hi - lo)) }));
  const out = frame(height, yMax, '%', ticks, 'score');
  out.push(
    legend(
      reference
        ? [
            { label: 'reference', color: COLORS.ref },
            { label: 'this run', color: COLORS.new },
          ]
        : [{ label: 'this run (no reference)', color: COLORS.new }],
    ),
  );
  // Side by side in each bin, so neither hides the other.
  series.forEach((s, k) => {
    const w = bw / series.length;
    s.shares.forEach((share, b) => {
      const h = ((share * 100) / yMax) * plotH;
      if (h <= 0) return;
      out.push(
        `<rect class="${s.name}" x="${(PAD.left + b * bw + k * w).toFixed(2)}" y="${(PAD.top + plotH - h).toFixed(2)}" width="${Math.max(0.5, w - 0.3).toFixed(2)}" height="${h.toFixed(2)}" fill="${s.color}"/>`,
      );
    });
  });
  return svg(chart, height, title, out);
}

/** At most `max` points of a descending curve: the first value (the largest) of each run of ranks. */
function thin(values: number[], max: number): { rank: number; value: number }[] {
  const step = Math.max(1, Math.ceil(values.length / max));
  const out: { rank: number; value: number }[] = [];
  for (let i = 0; i < values.length; i += step) out.push({ rank: i + 1, value: values[i] });
  if (values.length && out[out.length - 1].rank !== values.length) out.push({ rank: values.length, value: values[values.length - 1] });
  return out;
}

/**
 * Items sorted from most to least recommended, each at its share of all top-K slots: a model that gives
 * everyone the same items shows as a cliff after K items, a healthy one as a long tail.
 */
export function popularityCurve(current: number[], reference: number[] | null): string {
  const height = 220;
  const asShares = (counts: number[]) => {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    return [...counts].sort((a, b) => b - a).map((c) => (c / total) * 100);
  };
  const series = [{ name: 'new', values: asShares(current), color: COLORS.new }];
  if (reference) series.unshift({ name: 'ref', values: asShares(reference), color: COLORS.ref });
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const yMax = niceMax(Math.max(...series.map((s) => s.values[0] ?? 0)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const px = (rank: number) => PAD.left + ((rank - 1) / Math.max(1, n - 1)) * plotW;
  const py = (v: number) => PAD.top + plotH - (v / yMax) * plotH;
  const ticks = [1, Math.round(n / 4), Math.round(n / 2), Math.round((3 * n) / 4), n]
    .filter((r, i, a) => r >= 1 && a.indexOf(r) === i)
    .map((r) => ({ x: px(r), label: String(r) }));
  const out = frame(height, yMax, '%', ticks, 'items, most recommended first (share of all top-K slots)');
  out.push(
    legend(
      reference
        ? [
            { label: 'reference', color: COLORS.ref },
            { label: 'this run', color: COLORS.new },
          ]
        : [{ label: 'this run (no reference)', color: COLORS.new }],
    ),
  );
  // The reference underneath, wider: where the two curves coincide it shows as a grey edge around the blue.
  for (const s of series) {
    const pts = thin(s.values, 600)
      .map((p) => `${px(p.rank).toFixed(1)},${py(p.value).toFixed(1)}`)
      .join(' ');
    out.push(`<polyline class="${s.name}" fill="none" stroke="${s.color}" stroke-width="${s.name === 'ref' ? 5 : 2}" points="${pts}"/>`);
  }
  return svg('popularity', height, 'Item popularity: share of top-K slots per item, sorted', out);
}

/** Sampled users by how many of their K items the two runs share (0..K). */
export function overlapBars(histogram: number[]): string {
  const height = 220;
  const total = histogram.reduce((a, b) => a + b, 0) || 1;
  const shares = histogram.map((c) => (c / total) * 100);
  const yMax = niceMax(Math.max(...shares));
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const bw = plotW / histogram.length;
  const ticks = histogram.map((_, j) => ({ x: PAD.left + (j + 0.5) * bw, label: String(j) }));
  const out = frame(height, yMax, '%', ticks, `items shared by the two top-${histogram.length - 1} lists (share of sampled users)`);
  shares.forEach((s, j) => {
    const h = Math.max(s > 0 ? 1 : 0, (s / yMax) * plotH);
    out.push(
      `<rect class="bar" x="${(PAD.left + j * bw + 2).toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${Math.max(1, bw - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS.new}"><title>${j} shared: ${histogram[j]} users</title></rect>`,
    );
  });
  return svg('overlap', height, 'Top-K overlap with the reference, per sampled user', out);
}

/**
 * A discrete feature by value: the share of rows at each value in the reference (grey) and in this run (blue),
 * side by side, then "other" (a value the reference did not have) and "missing" when either has any.
 */
export function valueBars(feature: string, bars: { label: string; ref: number; now: number }[], psi: number, over: boolean): string {
  const height = 200;
  const yMax = niceMax(Math.max(...bars.flatMap((b) => [b.ref, b.now])) * 100);
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const bw = plotW / Math.max(1, bars.length);
  const ticks = bars.map((b, j) => ({ x: PAD.left + (j + 0.5) * bw, label: b.label }));
  const out = frame(height, yMax, '%', ticks, `${feature}: share of rows by value (PSI ${short(psi)}${over ? ', drifted' : ''})`);
  out.push(
    legend([
      { label: 'reference', color: COLORS.ref },
      { label: over ? 'this run (drifted)' : 'this run', color: over ? COLORS.over : COLORS.new },
    ]),
  );
  bars.forEach((b, j) => {
    for (const [k, name, share, color] of [
      [0, 'ref', b.ref, COLORS.ref],
      [1, 'new', b.now, over ? COLORS.over : COLORS.new],
    ] as const) {
      const h = Math.max(share > 0 ? 1 : 0, ((share * 100) / yMax) * plotH);
      const w = bw / 2 - 2;
      out.push(
        `<rect class="${name}" x="${(PAD.left + j * bw + 2 + k * (w + 0.5)).toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${Math.max(1, w).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${escapeXml(`${feature} = ${b.label}: ${name === 'ref' ? 'reference' : 'this run'} ${(share * 100).toFixed(2)}%`)}</title></rect>`,
      );
    }
  });
  return svg(`values:${escapeXml(feature)}`, height, `${feature} by value: reference and this run`, out);
}
