// batchcast report: real runs (DuckDB -> ONNX Runtime -> PostgreSQL) profiled, compared and judged by the
// guard stage, the terminal and JSON output through the CLI, and the HTML page rendered in headless Chromium.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { loadReport } from '../src/report/load-report.ts';
import { COLORS } from '../src/report/svg-charts.ts';
import { predict } from '../src/run/predict.ts';
import { launchChromium, screenshotPixels } from './browser.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

const dates = ['2026-11-18', '2026-11-19', '2026-11-20'];
let t: TestDb;
let fx: Fixture;
const runs: number[] = [];
let browser: Browser | undefined;
const out = mkdtempSync(path.join(os.tmpdir(), 'batchcast-report-'));

beforeAll(async () => {
  t = await createTestDb('report');
  fx = await makeFixture({ name: 'rep', idType: 'int', output: 'top_k', featureMode: 'columns', users: 2000, items: 150, dates });
  // f5 is a flag (0 or 1) on every date: a discrete feature, drawn as bars by value. The last date's export
  // has f0 in the wrong unit (x1000): the drift chart must show one red bar.
  for (const date of dates) {
    const day = fx.users.get(date)!;
    const half = Math.ceil(day.ids.length / 2);
    for (const [f, slice] of [
      [0, [0, half]],
      [1, [half, day.ids.length]],
    ] as const) {
      const rows = day.ids.slice(...slice).map((id, i) => {
        const x = Array.from(day.features[slice[0] + i]);
        x[5] = x[5] > 0 ? 1 : 0;
        if (date === dates[2]) x[0] *= 1000;
        return { id, features: x };
      });
      await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, `part-${f}.parquet`), rows, {
        idType: 'int',
        featureMode: 'columns',
        featureNames: fx.featureNames,
      });
    }
  }
  const config = loadConfig({ databaseUrl: t.url, root: fx.root }, {});
  // The first two dates publish; the third is held by the default gates and stays unpublished.
  for (const date of dates) runs.push((await predict({ job: fx.job, date, config, db: t.db, log })).runId);
});
afterAll(async () => {
  await browser?.close();
  await t?.drop();
});

const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root });

describe('batchcast report in the terminal', () => {
  it('--job --date finds the published run, else the newest; the tables show the failed gate and the drifted feature', async () => {
    const published = await runCli(['report', '--job', fx.job, '--date', dates[1]], env());
    expect(published.code).toBe(0);
    expect(published.stdout).toContain(`run ${runs[1]}: job rep, date ${dates[1]}, status succeeded (published)`);
    const r = await runCli(['report', '--job', fx.job, '--date', dates[2]], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`run ${runs[2]}: job rep, date ${dates[2]}, status held,`);
    // f0 x1000: its spread grew a thousandfold, and its PSI is far over the drift threshold
    expect(r.stdout).toMatch(/max_feature_scale_ratio\s+change\s+[\d.]+\s+[\d.]+\s+FAIL/);
    expect(r.stdout).toMatch(/^f0 .* drifted$/m);
    expect(r.stdout).not.toMatch(/^f1 .* drifted$/m);
    expect(r.stdout).toContain(`Comparison with run ${runs[1]} (${dates[1]})`);
  });

  it('--json prints what is stored', async () => {
    const r = await runCli(['report', '--run', String(runs[2]), '--json'], env());
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    const stored = await loadReport(t.db, { run: runs[2] });
    expect(rep).toEqual(JSON.parse(JSON.stringify(stored)));
    expect(rep.comparison.referenceRunId).toBe(runs[1]);
    expect(rep.inputs.features).toHaveLength(fx.featureNames.length);
    expect(rep.verdicts.filter((v: { passed: boolean }) => !v.passed).map((v: { gate: string }) => v.gate)).toContain(
      'max_feature_scale_ratio',
    );
  });

  it('a first run has no comparison and says so', async () => {
    const r = await runCli(['report', '--run', String(runs[0])], env());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no comparison: a first run has no reference');
    expect(r.stdout).toMatch(/max_drifted_feature_share\s+change\s+[\d.]+\s+skipped/);
  });

  it('bad requests exit 2 and say what to do', async () => {
    const none = await runCli(['report'], env());
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--run R, or --job J --date D');
    const missing = await runCli(['report', '--run', '999999'], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('run 999999 does not exist');
    const noRun = await runCli(['report', '--job', fx.job, '--date', '2026-01-01'], env());
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toContain('job rep, date 2026-01-01 has no run');
    const notCompared = await runCli(['report', '--run', String(runs[2]), '--reference', String(runs[0])], env());
    expect(notCompared.code).toBe(2);
    expect(notCompared.stderr).toContain(`batchcast compare --run ${runs[2]} --run ${runs[0]}`);
  });
});

describe('batchcast report --html in Chromium', () => {
  async function open(runId: number, name: string) {
    const file = path.join(out, `${name}.html`);
    const r = await runCli(['report', '--run', String(runId), '--html', file, '--quiet'], env());
    expect(r.code).toBe(0);
    browser ??= await launchChromium();
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    // self-contained: the page asked for nothing but itself
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(readFileSync(file, 'utf8')).not.toMatch(/\b(src|href)\s*=|url\(|@import|<script/i);
    const boxes = (sel: string) =>
      page.$$eval(sel, (els) =>
        els.map((e) => {
          const b = e.getBoundingClientRect();
          return b.width * b.height;
        }),
      );
    const charts = await page.$$eval('svg[data-chart]', (els) =>
      els.map((e) => {
        const b = e.getBoundingClientRect();
        return { chart: e.getAttribute('data-chart')!, width: b.width, height: b.height };
      }),
    );
    return { page, boxes, charts, file };
  }

  it('a run with a feature in the wrong unit: every chart drawn, one drift bar per feature, the drifted one red', async () => {
    const { page, boxes, charts } = await open(runs[2], 'drifted');
    expect(charts.map((c) => c.chart)).toEqual(['drift', 'values:f5', 'top1-scores', 'scores', 'popularity', 'overlap']);
    for (const c of charts) {
      expect(c.width).toBeGreaterThan(300);
      expect(c.height).toBeGreaterThan(100);
    }
    const bars = await boxes('svg[data-chart="drift"] rect.bar');
    expect(bars).toHaveLength(fx.featureNames.length);
    for (const a of bars) expect(a).toBeGreaterThan(0);
    expect(await boxes('svg[data-chart="drift"] rect.bar.over')).toHaveLength(1);
    expect(await boxes('svg[data-chart="drift"] line.threshold')).toHaveLength(1);
    const curves = await boxes('svg[data-chart="popularity"] polyline');
    expect(curves).toHaveLength(2);
    for (const a of curves) expect(a).toBeGreaterThan(0);
    expect(await boxes('svg[data-chart="overlap"] rect.bar')).toHaveLength(fx.k + 1);
    // the flag by value: a grey and a blue bar at 0 and at 1, each about half of the rows, none drifted
    const flag = 'svg[data-chart="values:f5"]';
    for (const cls of ['ref', 'new']) {
      const areas = await boxes(`${flag} rect.${cls}`);
      expect(areas, cls).toHaveLength(2);
      for (const a of areas) expect(a).toBeGreaterThan(0);
    }
    expect(await page.$eval(flag, (e) => e.textContent)).not.toContain('drifted');

    // The pixels: each chart drew something, in the colours it should.
    const els = await page.$$('svg[data-chart]');
    for (const [i, el] of els.entries()) {
      const { chart } = charts[i];
      const px = await screenshotPixels(page, el, { new: COLORS.new, ref: COLORS.ref, over: COLORS.over });
      expect(px.inked, chart).toBeGreaterThan(px.total * 0.02);
      expect(px.colors.new, chart).toBeGreaterThan(50);
      if (chart === 'drift') expect(px.colors.over).toBeGreaterThan(50);
      if (['top1-scores', 'scores', 'popularity', 'values:f5'].includes(chart)) expect(px.colors.ref, chart).toBeGreaterThan(50);
    }
    writeFileSync(path.join(out, 'drifted.png'), await page.screenshot({ fullPage: true }));
    await page.close();
  });

  it('an ordinary day: no red bar, reference and new spread over many bins of one shared score axis', async () => {
    const { page, boxes } = await open(runs[1], 'ordinary');
    expect(await boxes('svg[data-chart="drift"] rect.bar')).toHaveLength(fx.featureNames.length);
    expect(await boxes('svg[data-chart="drift"] rect.bar.over')).toHaveLength(0);
    for (const chart of ['top1-scores', 'scores']) {
      expect((await boxes(`svg[data-chart="${chart}"] rect.ref`)).filter((a) => a > 0).length, chart).toBeGreaterThan(10);
      expect((await boxes(`svg[data-chart="${chart}"] rect.new`)).filter((a) => a > 0).length, chart).toBeGreaterThan(10);
    }
    writeFileSync(path.join(out, 'ordinary.png'), await page.screenshot({ fullPage: true }));
    await page.close();
  });

  it('a first run: no drift or overlap chart, the score and popularity charts of the run alone', async () => {
    const { page, charts } = await open(runs[0], 'first');
    expect(charts.map((c) => c.chart)).toEqual(['top1-scores', 'scores', 'popularity']);
    expect(await page.$$eval('svg rect.ref', (els) => els.length)).toBe(0);
    expect(await page.$eval('body', (b) => b.textContent)).toContain('this run has no reference to compare with');
    await page.close();
  });

  it('an unwritable --html path is bad input naming the file', async () => {
    const r = await runCli(['report', '--run', String(runs[2]), '--html', path.join(out, 'no', 'such', 'dir.html')], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot write the report of run ${runs[2]} to ${path.join(out, 'no', 'such', 'dir.html')}`);
  });
});
