// The stored drift figures against a second computation straight from the raw rows, through the real pipeline
// (Parquet -> DuckDB -> ONNX Runtime -> PostgreSQL, predict's guard stage): a continuous, a tied, a mostly-zero,
// a boolean, a low-cardinality integer and a constant feature. Day 2 is day 1's rows in another order and
// split into three files instead of two: PSI = 0 and JS = 0 for every feature. Day 3 shifts every feature by
// its standard deviation: the stored PSI and JS equal the ones counted here on the reference's bins, and the
// continuous feature's PSI is within 5% of the textbook one on the reference's exact deciles.
// An all-NULL feature cannot go through predict (every row would be a bad row): profileInputs reads its
// Parquet files directly, with the same DuckDB statements.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { rng } from '../src/demo/random.ts';
import { compareGenerations } from '../src/guard/compare-generations.ts';
import { featureDrift } from '../src/guard/drift-measures.ts';
import { ownBins } from '../src/guard/feature-bins.ts';
import { profileInputs } from '../src/guard/profile-inputs.ts';
import { runRows } from '../src/guard/run-rows.ts';
import { loadJob } from '../src/jobs/load-job.ts';
import { withDuckDB } from '../src/read/duckdb.ts';
import { predict } from '../src/run/predict.ts';
import type { Comparison, InputProfile, OutputProfile } from '../src/store/profiles.ts';
import { decilePsi, js, judgedCounts, psi, readColumns } from './drift-reference.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const dates = ['2026-11-18', '2026-11-19', '2026-11-20'];
const USERS = 6000;
const KINDS = ['continuous', 'tied', 'mostly zero', 'boolean', 'integer code', 'constant'] as const;
let t: TestDb;
let fx: Fixture;
let config: Config;
const runIds: number[] = [];
const stored = new Map<string, { comparison: Comparison; inputs: InputProfile; status: string }>();

/** Day 1's features: one column per kind, float32 as in the file. */
function dayOne(): number[][] {
  const next = rng(5);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  return Array.from({ length: USERS }, () =>
    [
      10 + 2 * normal(),
      Math.round(6 * normal()), // about 40 distinct values, each repeated: ranges with many ties
      next() < 0.7 ? 0 : Math.round(-30 * Math.log(Math.max(next(), 1e-9))) / 10,
      next() < 0.3 ? 1 : 0,
      1 + Math.floor(7 * next()),
      5,
    ].map(Math.fround),
  );
}

const sd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
};

async function writeDay(date: string, rows: number[][], files: number, order: (i: number) => number) {
  const dir = path.join(fx.featuresDir, `dt=${date}`);
  rmSync(dir, { recursive: true, force: true });
  const all = rows.map((_, i) => order(i)).map((i) => ({ id: fx.users.get(date)!.ids[i], features: rows[i] }));
  const per = Math.ceil(all.length / files);
  for (let f = 0; f < files; f++) {
    await writeFeatures(path.join(dir, `part-${f}.parquet`), all.slice(f * per, (f + 1) * per), {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
  }
}

beforeAll(async () => {
  t = await createTestDb('drift_measures');
  fx = await makeFixture({ name: 'drift', idType: 'int', output: 'top_k', featureMode: 'columns', users: USERS, items: 40, dates });
  const one = dayOne();
  const sds = KINDS.map((_, j) => sd(one.map((r) => r[j])) || 1);
  await writeDay(dates[0], one, 2, (i) => i);
  await writeDay(dates[1], one, 3, (i) => (i * 7919) % USERS); // 7919 is prime to 6000: a permutation
  await writeDay(
    dates[2],
    one.map((r) => r.map((v, j) => Math.fround(v + sds[j]))),
    2,
    (i) => i,
  );
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  for (const date of dates) {
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    runIds.push(r.runId);
    const { rows } = await t.db.pool.query<{ comparison: Comparison | null; inputs: InputProfile }>(
      `select c.comparison, p.inputs from batchcast.run_profiles p left join batchcast.run_comparisons c using (run_id) where p.run_id = $1`,
      [r.runId],
    );
    stored.set(date, { comparison: rows[0].comparison!, inputs: rows[0].inputs, status: r.status });
  }
}, 180_000);
afterAll(async () => {
  await t?.drop();
});

describe('through predict', () => {
  it('the same rows in another order and other files: PSI = 0 and JS = 0 for every feature', () => {
    const c = stored.get(dates[1])!.comparison;
    expect(c.psi.map((p) => [p.feature, p.psi, p.js])).toEqual(fx.featureNames.map((f) => [f, 0, 0]));
    expect(c.driftedFeatureShare).toBe(0);
    expect(c.psiNote).toBeUndefined();
    // every figure of every feature equal to the last digit: the same data again, held by min_changed_features
    expect(stored.get(dates[1])!.status).toBe('held');
  });

  it("the rank-1 score: exact bins in each output profile, PSI and JS from the runs' own rows", async () => {
    const top1 = async (runId: number) =>
      (await t.db.pool.query<{ s: number }>(`select scores[1]::float8 as s from ${runRows(runId)} r`)).rows.map((r) => r.s);
    const { rows } = await t.db.pool.query<{ outputs: OutputProfile }>('select outputs from batchcast.run_profiles where run_id = $1', [
      runIds[0],
    ]);
    const { kind, edges } = rows[0].outputs.top1Bins!;
    // day 2: the same users and features, so the same scores: 0 exactly; day 3: shifted features, other scores
    expect(stored.get(dates[1])!.comparison.top1Score).toEqual({ psi: 0, js: 0 });
    const shifted = stored.get(dates[2])!.comparison.top1Score!;
    const [now, ref] = judgedCounts(kind, edges, await top1(runIds[2]), await top1(runIds[0]));
    expect(shifted.psi).toBeCloseTo(psi(now, ref), 9);
    expect(shifted.js).toBeCloseTo(js(now, ref), 9);
    expect(shifted.psi).toBeGreaterThan(0);
  });

  it('discrete features are binned by value, the others by ranges with a bin per edge', async () => {
    const raw = await readColumns(path.join(fx.featuresDir, `dt=${dates[1]}`), fx.featureNames);
    const bins = stored.get(dates[1])!.inputs.features.map((f) => f.bins!);
    fx.featureNames.forEach((name, j) => {
      const distinct = [...new Set(raw.get(name)!)].sort((a, b) => a! - b!);
      if (distinct.length <= 20) expect(bins[j], KINDS[j]).toEqual(expect.objectContaining({ kind: 'values', edges: distinct }));
      else expect(bins[j].kind, KINDS[j]).toBe('ranges');
    });
    expect(bins.map((b) => b.kind)).toEqual(['ranges', 'ranges', 'ranges', 'values', 'values', 'values']);
    // the zero of the mostly-zero feature is a bin of its own, holding exactly the zeros
    const zero = bins[2].edges.indexOf(0);
    expect(zero).toBeGreaterThanOrEqual(0);
    expect(bins[2].counts[2 * zero + 1]).toBe(raw.get('f2')!.filter((v) => v === 0).length);
  });

  it('a one-sd shift of each: the stored PSI and JS equal those counted from the raw rows on the reference bins', async () => {
    // the reference is day 1, the last published date: day 2, the same rows again, was held by min_changed_features
    const ref = await readColumns(path.join(fx.featuresDir, `dt=${dates[0]}`), fx.featureNames);
    const now = await readColumns(path.join(fx.featuresDir, `dt=${dates[2]}`), fx.featureNames);
    const refProfile = stored.get(dates[0])!.inputs;
    const c = stored.get(dates[2])!.comparison;
    expect(c.psiNote).toBeUndefined();
    fx.featureNames.forEach((name, j) => {
      const { kind, edges } = refProfile.features[j].bins!;
      const [actual, expected] = judgedCounts(kind, edges, now.get(name)!, ref.get(name)!);
      const got = c.psi[j];
      expect(got.feature).toBe(name);
      expect(got.psi, KINDS[j]).toBeCloseTo(psi(actual, expected), 9);
      expect(got.js, KINDS[j]).toBeCloseTo(js(actual, expected), 9);
      expect(got.psi, KINDS[j]).toBeGreaterThan(0.25);
    });
    // the continuous feature against the textbook PSI on exact deciles: within 5%
    const exact = decilePsi(now.get('f0')! as number[], ref.get('f0')! as number[]);
    expect(Math.abs(c.psi[0].psi - exact) / exact).toBeLessThan(0.05);
  });
});

it('compare --run A --run B, B not the reference A was profiled on: A re-binned from its files on B, else said to be estimated', async () => {
  // day 3 was profiled against day 1 (day 2 was held: the same data again); against day 2 it is counted
  // again from its files, on day 2's bins
  expect(stored.get(dates[2])!.inputs.referenceRunId).toBe(runIds[0]);
  const exact = await compareGenerations(t.db, config, runIds[2], runIds[1]);
  expect(exact.psiNote).toBeUndefined();
  const ref = await readColumns(path.join(fx.featuresDir, `dt=${dates[1]}`), fx.featureNames);
  const now = await readColumns(path.join(fx.featuresDir, `dt=${dates[2]}`), fx.featureNames);
  const { rows } = await t.db.pool.query<{ inputs: InputProfile }>('select inputs from batchcast.run_profiles where run_id = $1', [
    runIds[1],
  ]);
  fx.featureNames.forEach((name, j) => {
    const { kind, edges } = rows[0].inputs.features[j].bins!;
    expect(exact.psi[j].psi, KINDS[j]).toBeCloseTo(psi(...judgedCounts(kind, edges, now.get(name)!, ref.get(name)!)), 9);
  });
  // without its files, day 3 can only be estimated from its quantiles, and the comparison says so
  rmSync(path.join(fx.featuresDir, `dt=${dates[2]}`), { recursive: true });
  const estimated = await compareGenerations(t.db, config, runIds[2], runIds[1]);
  expect(estimated.psiNote).toContain(`estimated from quantiles, not counted: run ${runIds[2]} was profiled against run ${runIds[0]}`);
});

it('a few rows with as many values are ranges, not values: the next day would be all "other"', () => {
  const bins = (xs: number[]) => ownBins(Float64Array.from(xs).sort(), [], 20, 0).kind;
  expect(bins([0.3, 1.7, 2.2, 5.1, 9.4, 0.8, 3.3, 7.7, 6.1, 4.0])).toBe('ranges');
  expect(bins([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])).toBe('values');
  expect(bins(Array.from({ length: 100 }, (_, i) => i % 21))).toBe('ranges'); // 21 values: more than 20
  expect(bins(Array.from({ length: 100 }, (_, i) => i % 20))).toBe('values');
});

it('all-NULL and all-constant features, and shifted copies: PSI and JS from profiles of real Parquet files', async () => {
  const job = loadJob(fx.jobsDir, fx.job, fx.root);
  const dir = path.join(fx.root, 'nulls');
  const write = async (name: string, value: (i: number) => number | null) => {
    const file = path.join(dir, `${name}.parquet`);
    const rows = fx.users.get(dates[0])!.ids.map((id, i) => ({ id, features: fx.featureNames.map(() => value(i)) }));
    await writeFeatures(file, rows, { idType: 'int', featureMode: 'columns', featureNames: fx.featureNames });
    return file;
  };
  const files = {
    nulls: await write('nulls', () => null),
    constant: await write('constant', () => 3),
    shifted: await write('constant-shifted', () => 4),
  };
  const known = { rows: USERS, allFinite: false };
  const profile = (file: string, ref: InputProfile | null) =>
    withDuckDB({}, (conn) => profileInputs(conn, job, [file], ref, ref ? 1 : null, known));
  const pairs: [string, string, number][] = [
    [files.nulls, files.nulls, 0],
    [files.constant, files.constant, 0],
    [files.shifted, files.constant, 1],
    [files.nulls, files.constant, 1],
  ];
  for (const [nowFile, refFile, drifted] of pairs) {
    const ref = await profile(refFile, null);
    const now = await profile(nowFile, ref);
    for (const [j, f] of now.features.entries()) {
      const r = ref.features[j];
      const d = featureDrift(f, r, 1, 1)!;
      const values = (file: string) => new Array<number | null>(USERS).fill(file === files.nulls ? null : file === files.constant ? 3 : 4);
      const [actual, expected] = judgedCounts(r.bins!.kind, r.bins!.edges, values(nowFile), values(refFile));
      expect(d.exact).toBe(true);
      expect(d.psi).toBeCloseTo(psi(actual, expected), 9);
      expect(d.js).toBeCloseTo(js(actual, expected), 9);
      if (drifted) expect(d.psi).toBeGreaterThan(0.25);
      else expect([d.psi, d.js]).toEqual([0, 0]);
    }
  }
});
