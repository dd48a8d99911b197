// The job's expectations on its inputs (issue 26), through the real pipeline: each kind holds a day that
// breaks it, naming job, date, column, expectation, the observed value and the bound, and passes a day that
// keeps it; the verdicts are stored, shown by the report and by predict's output. The job's other gates are
// off (gates.enabled false), so only expectations can hold a day here: they apply even then.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { loadJob } from '../src/jobs/load-job.ts';
import { withDuckDB } from '../src/read/duckdb.ts';
import { renderReportHtml } from '../src/report/html-report.ts';
import { loadReport } from '../src/report/load-report.ts';
import { reportTables } from '../src/report/report-tables.ts';
import { predict } from '../src/run/predict.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

const date = '2026-11-20';
let t: TestDb;
let fx: Fixture;
let config: Config;

const expectations = {
  row_count: { min: 100, max: 1000 },
  columns: {
    f0: { not_null: true },
    f1: { max_null_share: 0.1 },
    f2: { between: { min: -1, max: 1 } },
    f3: { accepted_values: [0, 1] },
  },
};

/** The date's partition: f3 made 0/1 (what its expectation accepts), then `change` applied; `users` rows. */
async function writeDay(change: (f: (number | null)[], i: number) => (number | null)[] = (f) => f, users = 200): Promise<void> {
  const { ids, features } = fx.users.get(date)!;
  const rows = ids.slice(0, users).map((id, i) => {
    const f: (number | null)[] = Array.from(features[i]);
    f[3] = f[3]! > 0 ? 1 : 0;
    return { id, features: change(f, i) };
  });
  await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, 'part-0.parquet'), rows, {
    idType: 'int',
    featureMode: 'columns',
    featureNames: fx.featureNames,
  });
}

beforeAll(async () => {
  t = await createTestDb('expect');
  fx = await makeFixture({
    name: 'expect',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 200,
    items: 30,
    k: 5,
    dates: [date],
    filesPerDate: 1,
    // NULL rows are skipped by the run and still seen by the expectations (they read the files)
    job: { gates: { enabled: false }, bad_rows: { mode: 'skip', max_bad_fraction: 0.5 }, expectations, retention: { keep: 20 } },
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
}, 120_000);
afterAll(async () => {
  await t?.drop();
});

const held = async (change: Parameters<typeof writeDay>[0], users?: number) => {
  await writeDay(change, users);
  const r = await predict({ job: fx.job, date, config, db: t.db, log });
  expect(r.status).toBe('held');
  return r;
};

describe('a day that keeps every expectation', () => {
  it('publishes, with each expectation recorded as passed', async () => {
    await writeDay((f, i) => (i < 10 ? f.map((v, j) => (j === 1 ? null : v)) : f)); // 5% NULL in f1: under 0.1
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(r.status).toBe('published');
    const ex = r.guard.verdicts.filter((v) => v.kind === 'expectation');
    expect(ex.map((v) => [v.gate, v.value, v.passed])).toEqual([
      ['row_count', 200, true],
      ['not_null(f0)', 0, true],
      ['max_null_share(f1)', 0.05, true],
      ['between(f2)', 0, true],
      ['accepted_values(f3)', 0, true],
    ]);
  }, 60_000);
});

describe('a day that breaks one is held, and the line says what, where, and by how much', () => {
  it('not_null', async () => {
    const r = await held((f, i) => (i % 50 === 0 ? f.map((v, j) => (j === 0 ? null : v)) : f));
    expect(r.guard.line).toMatch(
      new RegExp(`^job expect, date ${date}, run ${r.runId} held: expectation not_null on column f0: 4 rows NULL of 200, bound 0; `),
    );
    expect(r.guard.failed.map((v) => v.gate)).toEqual(['not_null(f0)']);
  }, 60_000);

  it('max_null_share, through the command: predict exits 6 and prints it, runs lists it', async () => {
    await writeDay((f, i) => (i % 5 === 0 ? f.map((v, j) => (j === 1 ? null : v)) : f));
    const env = { DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, BATCHCAST_WORKERS: '1' };
    const r = await runCli(['predict', '--job', fx.job, '--date', date], env);
    expect(r.code).toBe(6);
    const what = 'held: expectation max_null_share on column f1: NULL share 0.2 (40 of 200), bound 0.1;';
    expect(r.stderr).toContain(`job expect, date ${date}, run`);
    expect(r.stderr).toContain(what);
    expect(r.stdout).toMatch(/max_null_share\(f1\)\s+expectation\s+0\.20*\s+0\.10*\s+FAIL\s+max_null_share on column f1: NULL share 0\.2/);
    const runs = await runCli(['runs', '--job', fx.job, '--date', date, '--limit', '1'], env);
    expect(runs.stdout).toContain(what);
  }, 60_000);

  it('between', async () => {
    const r = await held((f, i) => (i === 7 ? f.map((v, j) => (j === 2 ? 1000 : v)) : f));
    expect(r.guard.line).toMatch(
      /held: expectation between on column f2: 1 row of 200 outside \[-1, 1\] \(observed min -0\.\d+, max 1000\), bound 0 rows;/,
    );
  }, 60_000);

  it('accepted_values', async () => {
    const r = await held((f, i) => (i < 3 ? f.map((v, j) => (j === 3 ? 2 : v)) : f));
    expect(r.guard.line).toContain('held: expectation accepted_values on column f3: 3 rows of 200 not in [0, 1] (e.g. 2), bound 0 rows;');
  }, 60_000);

  it('row_count, below and above its bounds', async () => {
    const low = await held(undefined, 50);
    expect(low.guard.line).toContain('held: expectation row_count: 50 rows in the partition, bounds [100, 1000];');
    expect(low.guard.failed[0]).toMatchObject({ gate: 'row_count', value: 50, threshold: 100 });
    // more rows than the bound: the fixture's 200 users twice over, under other ids
    const { ids, features } = fx.users.get(date)!;
    const rows = Array.from({ length: 1100 }, (_, i) => ({ id: String(90_000 + i), features: Array.from(features[i % ids.length]) }));
    rows.forEach((r) => {
      r.features[3] = r.features[3] > 0 ? 1 : 0;
    });
    await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, 'part-0.parquet'), rows, {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
    const high = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(high.status).toBe('held');
    expect(high.guard.failed[0]).toMatchObject({ gate: 'row_count', value: 1100, threshold: 1000 });
  }, 60_000);

  it('several broken: every one is a failed verdict, the report shows them', async () => {
    const r = await held((f, i) => (i === 0 ? [null, null, 5, 3, f[4], f[5]] : f));
    expect(r.guard.failed.map((v) => v.gate)).toEqual(['not_null(f0)', 'between(f2)', 'accepted_values(f3)']);
    expect(r.guard.line).toMatch(/held: expectation not_null on column f0: .*; also failed: between\(f2\), accepted_values\(f3\);/);
    const rep = await loadReport(t.db, { run: r.runId });
    const html = renderReportHtml(rep);
    // the banner names each broken expectation with its column, observed value and bound
    expect(html).toMatch(
      /3 gate\(s\) failed: expectation accepted_values on column f3: .*; expectation between on column f2: .*; expectation not_null on column f0: 1 row NULL of 200, bound 0 \(run held\)/,
    );
    const gates = reportTables(rep)[0];
    expect(gates.rows.find((row) => row[0] === 'between(f2)')).toEqual([
      'between(f2)',
      'expectation',
      '1',
      '0',
      'FAIL',
      expect.stringMatching(/^between on column f2: 1 row of 200 outside \[-1, 1\] \(observed min -0\.\d+, max 5\), bound 0 rows$/),
    ]);
  }, 60_000);
});

describe('predict --dry-run', () => {
  it('checks the expectations: exit 2 naming the broken one, exit 0 listing how many were kept', async () => {
    const env = { DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, BATCHCAST_WORKERS: '1' };
    await writeDay((f, i) => (i === 7 ? f.map((v, j) => (j === 2 ? 1000 : v)) : f));
    const bad = await runCli(['predict', '--job', fx.job, '--date', date, '--dry-run'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      new RegExp(
        `job expect, date ${date}: a run would be held: expectation between on column f2: 1 row of 200 outside \\[-1, 1\\] \\(observed min -0\\.\\d+, max 1000\\), bound 0 rows; fix the export`,
      ),
    );
    await writeDay();
    const good = await runCli(['predict', '--job', fx.job, '--date', date, '--dry-run'], env);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain("expected   5 expectation(s) kept by the date's files");
  }, 60_000);
});

describe('NaN counts as outside a between with one bound', () => {
  it('min only and max only: a NaN holds the day (DuckDB orders NaN above every number)', async () => {
    await writeDay();
    // JSON has no NaN, so the fixture writer cannot: rewrite one user's f2 and f4 as float NaN
    const part = path.join(fx.featuresDir, `dt=${date}`, 'part-0.parquet');
    const nan = (c: string) => `CASE WHEN user_id = ${fx.users.get(date)!.ids[9]} THEN 'NaN'::FLOAT ELSE ${c} END AS ${c}`;
    await withDuckDB({}, async (conn) => {
      await conn.run(`COPY (SELECT * REPLACE (${nan('f2')}, ${nan('f4')}) FROM read_parquet('${part}')) TO '${part}.nan' (FORMAT parquet)`);
    });
    renameSync(`${part}.nan`, part);
    const file = path.join(fx.jobsDir, 'expect_nan.json');
    const columns = { f2: { between: { min: -1 } }, f4: { between: { max: 1e9 } } };
    writeFileSync(file, JSON.stringify({ ...loadJobFile(), expectations: { columns } }));
    const r = await predict({ job: 'expect_nan', date, config, db: t.db, log });
    expect(r.status).toBe('held');
    expect(r.guard.failed.map((v) => v.gate)).toEqual(['between(f2)', 'between(f4)']);
    expect(r.guard.line).toContain('expectation between on column f2: 1 row of 200 outside [-1, inf]');
  }, 60_000);
});

describe('mistakes in the job file', () => {
  it('a column the files do not have fails the run, naming it and the columns they have', async () => {
    await writeDay();
    const file = path.join(fx.jobsDir, 'expect2.json');
    const job = { ...loadJobFile(), expectations: { columns: { rain: { not_null: true } } } };
    writeFileSync(file, JSON.stringify(job));
    await expect(predict({ job: 'expect2', date, config, db: t.db, log })).rejects.toThrow(
      /job expect2, date 2026-11-20: expectations\.columns names column "rain", which the date's files do not have \(they have user_id, f0, f1, f2, f3, f4, f5.*\); fix the job file .*expect2\.json$/,
    );
  }, 60_000);

  it('bounds that cannot hold are refused when the job is loaded', () => {
    const file = path.join(fx.jobsDir, 'expect3.json');
    writeFileSync(file, JSON.stringify({ ...loadJobFile(), expectations: { columns: { f2: { between: { min: 2, max: 1 } } } } }));
    expect(() => loadJob(fx.jobsDir, 'expect3', fx.root)).toThrow(/field "expectations\.columns\.f2\.between" has min 2 above max 1/);
    writeFileSync(file, JSON.stringify({ ...loadJobFile(), expectations: { row_count: {} } }));
    expect(() => loadJob(fx.jobsDir, 'expect3', fx.root)).toThrow(/field "expectations\.row_count" needs "min", "max" or both/);
  });
});

function loadJobFile(): Record<string, unknown> {
  return JSON.parse(readFileSync(fx.jobFile, 'utf8'));
}
