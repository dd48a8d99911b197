// The chart arithmetic, without a browser: histograms drawn from stored percentiles, and axis tops.
import { describe, expect, it } from 'vitest';
import {
  binsFromPercentiles,
  COLORS,
  driftBars,
  niceMax,
  overlapBars,
  popularityCurve,
  scoreHistogram,
  valueBars,
} from '../src/report/svg-charts.ts';

const uniform = Array.from({ length: 101 }, (_, i) => i / 100); // U(0, 1)
const edges = (lo: number, hi: number, n: number) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);

describe('binsFromPercentiles', () => {
  it('a uniform distribution fills equal bins, and the shares add up to 1', () => {
    const bins = binsFromPercentiles(uniform, edges(0, 1, 4));
    for (const b of bins) expect(b).toBeCloseTo(0.25, 12);
  });

  it('on a wider shared axis, the mass stays where the values are', () => {
    const bins = binsFromPercentiles(uniform, edges(0, 2, 4));
    expect(bins.map((b) => Number(b.toFixed(12)))).toEqual([0.5, 0.5, 0, 0]);
  });

  it('a constant puts all its mass in the bin holding the value', () => {
    const bins = binsFromPercentiles(new Array(101).fill(0.3), edges(0, 1, 10));
    expect(bins[3]).toBeCloseTo(1, 12);
    expect(bins.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('a tie at the top edge lands in the last bin, not outside', () => {
    const p = uniform.map((x, i) => (i >= 90 ? 1 : x));
    const bins = binsFromPercentiles(p, edges(0, 1, 10));
    expect(bins.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // 10 ties at 1, plus the part of the 0.89..1 interval (1%) that lies in [0.9, 1]
    expect(bins[9]).toBeCloseTo(0.1 + 0.01 * (0.1 / 0.11), 12);
  });
});

describe('charts', () => {
  it('niceMax gives tops whose quarters read well', () => {
    expect([0.7, 1, 1.2, 19.98, 37.9, 0.031].map(niceMax)).toEqual([1, 1, 2, 20, 50, 0.05]);
  });

  it('the drift chart has one bar per feature, red only over the threshold, and escapes feature names', () => {
    const svg = driftBars(
      [
        { feature: 'a<b', psi: 0.01 },
        { feature: 'km', psi: 9 },
        { feature: 'c', psi: 0 },
      ],
      0.25,
    );
    expect(svg.match(/<rect class="bar[ "]/g)).toHaveLength(3);
    expect(svg.match(/<rect class="bar over"/g)).toHaveLength(1);
    expect(svg).toContain('a&#60;b');
    expect(svg).not.toContain('a<b');
  });

  it('score, popularity and overlap charts draw both runs when there is a reference', () => {
    expect(
      scoreHistogram(
        't',
        's',
        uniform,
        uniform.map((x) => x + 0.5),
      ),
    ).toMatch(/class="ref"[\s\S]*class="new"/);
    expect(popularityCurve([5, 1, 0], [2, 2, 2]).match(/<polyline/g)).toHaveLength(2);
    expect(popularityCurve([5, 1, 0], null).match(/<polyline/g)).toHaveLength(1);
    expect(overlapBars([1, 2, 3, 0]).match(/<rect class="bar"/g)).toHaveLength(4);
  });
});

describe('valueBars', () => {
  const bars = [
    { label: '0', ref: 0.7, now: 0.7 },
    { label: '1', ref: 0.3, now: 0.2 },
    { label: 'other', ref: 0, now: 0.1 },
  ];
  it('one grey and one coloured bar per value, heights in proportion to the shares, labels under them', () => {
    const svg = valueBars('is_weekend', bars, 0.3, false);
    expect(svg).toContain('data-chart="values:is_weekend"');
    const heights = (cls: string) => [...svg.matchAll(new RegExp(`class="${cls}"[^>]* height="([\\d.]+)"`, 'g'))].map((m) => Number(m[1]));
    const [ref, now] = [heights('ref'), heights('new')];
    expect(ref).toHaveLength(3);
    expect(now).toHaveLength(3);
    expect(ref[0]).toBeCloseTo(now[0], 6);
    expect(ref[1] / ref[0]).toBeCloseTo(0.3 / 0.7, 2);
    expect(ref[2]).toBe(0);
    expect(now[2]).toBeGreaterThan(0);
    for (const label of ['>0<', '>1<', '>other<']) expect(svg).toContain(label);
    expect(svg).toContain(COLORS.new);
    expect(svg).not.toContain(COLORS.over);
  });
  it('a drifted feature is drawn in red and says so', () => {
    const svg = valueBars('is_weekend', bars, 9.2, true);
    expect(svg).toContain(COLORS.over);
    expect(svg).toContain('this run (drifted)');
  });
});
