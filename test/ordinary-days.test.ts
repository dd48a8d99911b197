// No alarm on ordinary days: 30 consecutive demo days (`batchcast generate` data) all publish with the demo
// job's default gates, and the report marks as drifted only features whose values the generator changed that
// day (the weather and the weekday: docs/guardrails.md, "The demo's ordinary days"); every feature whose
// values are the same as the day before has PSI = 0 and JS = 0 exactly. Then the case that once showed drift
// where there was none: a copy of the last day's file with only preferred_km x1000 gives preferred_km a PSI
// over the threshold and every other feature exactly 0, in the stored comparison and in the HTML report.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { generateDemo } from '../src/demo/generate.ts';
import { FEATURE_COLUMNS } from '../src/demo/walking-routes.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { renderReportHtml } from '../src/report/html-report.ts';
import { loadReport } from '../src/report/load-report.ts';
import { inputTable } from '../src/report/report-tables.ts';
import { predict } from '../src/run/predict.ts';
import { readColumns } from './drift-reference.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DAYS = 30;
const END = '2026-11-30';
/** What the demo generator changes from one day to the next (src/demo/walking-routes.ts featuresSql). */
const DAILY = ['rain_mm', 'temp_c', 'is_weekend'];
let t: TestDb;
let root: string;
let dates: string[];
const features: string[] = [...FEATURE_COLUMNS];
const dayDir = (date: string) => path.join(root, 'data', 'demo', 'features', `dt=${date}`);

beforeAll(async () => {
  t = await createTestDb('ordinary_days');
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-ordinary-days-'));
  mkdirSync(path.join(root, 'jobs'));
  copyFileSync(path.join(repo, 'demo', 'demo.json'), path.join(root, 'jobs', 'demo.json'));
  ({ dates } = await generateDemo({
    outDir: path.join(root, 'data', 'demo'),
    users: 2_000,
    items: 400,
    days: DAYS,
    endDate: END,
    k: 10,
    rowsPerFile: 1_000_000,
    seed: 7,
  }));
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

const sorted = (xs: (number | null)[]) => JSON.stringify([...xs].sort((a, b) => (a ?? -Infinity) - (b ?? -Infinity)));

it('30 ordinary demo days all publish, and only what the generator changed that day drifts', async () => {
  const config = loadConfig({ databaseUrl: t.url, root, workers: 1, intraOpThreads: 1 }, {});
  let previous: Map<string, (number | null)[]> | null = null;
  const moved = new Set<string>();
  for (const date of dates) {
    const r = await predict({ job: 'demo', date, config, db: t.db, log });
    expect([date, r.status, r.guard.line ?? '']).toEqual([date, 'published', '']);
    expect(r.guard.verdicts.filter((v) => !v.passed)).toEqual([]);
    const raw = await readColumns(dayDir(date), features);
    if (previous) {
      const changed = features.filter((f) => sorted(raw.get(f)!) !== sorted(previous!.get(f)!));
      for (const f of changed) moved.add(f);
      expect(DAILY, `${date}: the generator changed ${changed}`).toEqual(expect.arrayContaining(changed));
      const c = r.guard.comparison!;
      expect(c.psiNote).toBeUndefined();
      for (const p of c.psi) if (!changed.includes(p.feature)) expect([date, p.feature, p.psi, p.js]).toEqual([date, p.feature, 0, 0]);
      // what the report marks as drifted, in its table and its chart
      const rep = await loadReport(t.db, { run: r.runId });
      const marked = inputTable(rep)
        .rows.filter((row) => row[row.length - 1].endsWith('drifted'))
        .map((row) => row[0]);
      expect(changed, `${date}: the report marks ${marked} drifted`).toEqual(expect.arrayContaining(marked));
      const html = renderReportHtml(rep);
      const red = [...html.matchAll(/class="bar over"[^>]*><title>([^:<]+):/g)].map((m) => m[1]);
      expect(red.sort()).toEqual(marked.sort());
    }
    previous = raw;
  }
  // the weather moved every day (temperature, rain) and the weekend came and went
  expect([...moved].sort()).toEqual([...DAILY].sort());
}, 150_000);

it('a copy of the last day with only preferred_km x1000: its PSI over the threshold, every other feature exactly 0', async () => {
  const config = loadConfig({ databaseUrl: t.url, root, workers: 1, intraOpThreads: 1 }, {});
  const date = addDay(END);
  mkdirSync(dayDir(date), { recursive: true });
  await withDuckDB({}, async (conn) => {
    for (const f of readdirSync(dayDir(END))) {
      await conn.run(
        `COPY (SELECT * REPLACE ((preferred_km * 1000)::FLOAT AS preferred_km) FROM read_parquet(${sqlString(path.join(dayDir(END), f))}))
           TO ${sqlString(path.join(dayDir(date), f))} (FORMAT parquet)`,
      );
    }
  });
  const r = await predict({ job: 'demo', date, config, db: t.db, log });
  expect(r.status).toBe('held');
  const c = r.guard.comparison!;
  const psi = Object.fromEntries(c.psi.map((p) => [p.feature, p.psi]));
  expect(psi.preferred_km).toBeGreaterThan(0.25);
  expect(c.psi.filter((p) => p.feature !== 'preferred_km').map((p) => [p.feature, p.psi, p.js])).toEqual(
    features.filter((f) => f !== 'preferred_km').map((f) => [f, 0, 0]),
  );
  // the report: one red drift bar, preferred_km's; the discrete features drawn by value, none drifted
  const rep = await loadReport(t.db, { run: r.runId });
  const html = renderReportHtml(rep);
  expect([...html.matchAll(/class="bar over"[^>]*><title>([^:<]+):/g)].map((m) => m[1])).toEqual(['preferred_km']);
  const byValue = [...html.matchAll(/data-chart="values:([^"]+)"/g)].map((m) => m[1]).sort();
  expect(byValue).toEqual(expect.arrayContaining(['is_weekend', 'temp_c']));
  expect(html).not.toMatch(/this run \(drifted\)/);
  expect(
    inputTable(rep)
      .rows.filter((row) => row[row.length - 1].endsWith('drifted'))
      .map((row) => row[0]),
  ).toEqual(['preferred_km']);
}, 60_000);

function addDay(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
