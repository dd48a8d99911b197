// Guardrails on a real PostgreSQL, DuckDB and ONNX Runtime: broken but well-formed inputs (a feature x1000,
// a constant feature) and a model that gives everyone the same items are held back, with the previous
// generation still served through the view and the API; an override publishes with its reason; a shadow
// run is never visible to readers; compare works on any two runs.

import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { compareGenerations } from '../src/guard/compare-generations.ts';
import { pruneTables } from '../src/retention/prune-tables.ts';
import { predict } from '../src/run/predict.ts';
import { publishGeneration } from '../src/run/publish-generation.ts';
import type { Comparison, InputProfile, OutputProfile } from '../src/store/profiles.ts';
import { makeFixture, writeFeatures } from './fixtures.ts';
import {
  cli,
  config,
  d1,
  d2,
  fx,
  good,
  modelFile,
  rewriteD2,
  runOf,
  sameItemsModel,
  served,
  setUpGuardrails,
  t,
} from './guardrails-fixture.ts';
import { log } from './helpers.ts';

setUpGuardrails();

describe('profiles and comparison', () => {
  it('a first run is profiled, has no reference, and only its value gates apply', async () => {
    const { rows } = await t.db.pool.query<{ inputs: InputProfile; outputs: OutputProfile }>(
      `select inputs, outputs from batchcast.run_profiles p join batchcast.runs r using (run_id) where r.prediction_date = $1`,
      [d1],
    );
    const { inputs, outputs } = rows[0];
    expect(inputs.referenceRunId).toBeNull();
    expect(inputs.rows).toBe(600);
    expect(inputs.features.map((f) => f.name)).toEqual(fx.featureNames);
    const f0 = inputs.features[0];
    const values = fx.users.get(d1)!.features.map((x) => x[0]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(f0.mean).toBeCloseTo(mean, 5);
    expect(f0.min).toBeCloseTo(Math.min(...values), 5);
    expect(f0.deciles).toHaveLength(9);
    expect(f0.histogram).toBeNull();
    expect(outputs.usersScored).toBe(600);
    expect(outputs.itemCounts.reduce((a, b) => a + b, 0)).toBe(600 * fx.k);
    expect(outputs.top1Percentiles).toHaveLength(101);
    const gates = await t.db.pool.query(
      `select gate, kind, value, passed from batchcast.gate_verdicts g join batchcast.runs r using (run_id) where r.prediction_date = $1`,
      [d1],
    );
    expect(gates.rows.filter((g) => g.kind === 'change').every((g) => g.value === null && g.passed)).toBe(true);
    expect(gates.rows.filter((g) => g.kind === 'value').every((g) => g.value !== null && g.passed)).toBe(true);
  });

  it('an ordinary next day is compared with the previous date and published', async () => {
    const { rows } = await t.db.pool.query<{ comparison: Comparison }>(
      'select comparison from batchcast.run_comparisons where run_id = $1',
      [good],
    );
    const c = rows[0].comparison;
    expect(c.psi).toHaveLength(fx.featureNames.length);
    expect(c.psiEpsilon).toBe(1e-4);
    expect(c.sampleUsers).toBe(600);
    expect(c.usersRatio).toBe(1);
    expect(c.overlapHistogram.reduce((a, b) => a + b, 0)).toBe(600);
    expect(c.driftedFeatureShare).toBe(0);
  });
});

describe('held: nothing published, the previous generation still served', () => {
  it.each([
    ['a feature scaled x1000', (f: number[]) => f.map((v, j) => (j === 1 ? v * 1000 : v)), /gate max_feature_scale_ratio = \d/],
    ['a feature made constant', (f: number[]) => f.map((v, j) => (j === 2 ? 0 : v)), /gate max_new_constant_features = 1 \(feature f2\)/],
  ])(
    '%s',
    async (_name, change, gate) => {
      const original = fx.users.get(d2)!;
      await rewriteD2(change);
      try {
        const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
        expect(r.status).toBe('held');
        expect(r.guard.line).toMatch(new RegExp(`^job guard, date ${d2}, run ${r.runId} held: `));
        expect(r.guard.line).toMatch(gate);
        expect(r.guard.line).toContain(`batchcast publish --run ${r.runId} --reason`);
        expect(await runOf(r.runId)).toMatchObject({ status: 'held', error: r.guard.line });
        expect(await served()).toEqual({ view: [good], api: good });
      } finally {
        fx.users.set(d2, original);
        await rewriteD2((f) => f);
      }
    },
    60_000,
  );

  it('half the users gone', async () => {
    const { ids, features } = fx.users.get(d2)!;
    const rows = ids.slice(0, 250).map((id, i) => ({ id, features: Array.from(features[i]) }));
    await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-0.parquet'), rows, {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
    await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, 'part-1.parquet'), rows.slice(0, 0), {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
    try {
      const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
      expect(r.status).toBe('held');
      expect(r.guard.failed.map((g) => g.gate)).toContain('min_users_ratio');
      expect(r.guard.comparison!.usersRatio).toBeCloseTo(250 / 600, 10);
      expect(r.guard.comparison!.sampleUsers).toBe(250);
      expect(await served()).toEqual({ view: [good], api: good });
    } finally {
      await rewriteD2((f) => f);
    }
  }, 60_000);

  it('a feature constant at a value common in the reference publishes (a day without rain)', async () => {
    const original = fx.users.get(d2)!;
    // the reference: f2 is 0 for about 40% of users (rain_mm on an ordinary day)
    await rewriteD2((f) => f.map((v, j) => (j === 2 && f[0] < -0.2 ? 0 : v)));
    try {
      expect((await predict({ job: fx.job, date: d2, config, db: t.db, log })).status).toBe('published');
      await rewriteD2((f) => f.map((v, j) => (j === 2 ? 0 : v))); // no rain anywhere today
      const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
      expect(r.guard.line ?? '').toBe('');
      expect(r.status).toBe('published');
      await publishGeneration(t.db, config, good); // back to the good generation
    } finally {
      fx.users.set(d2, original);
      await rewriteD2((f) => f);
    }
  }, 60_000);

  it('a model that gives everyone the same items', async () => {
    const original = readFileSync(modelFile);
    writeFileSync(modelFile, readFileSync(sameItemsModel));
    try {
      const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
      expect(r.status).toBe('held');
      expect(r.guard.failed.map((g) => g.gate)).toContain('min_catalog_coverage');
      expect(r.guard.line).toMatch(/gate min_catalog_coverage = 0\.08333, threshold 0\.1667/);
      expect(await served()).toEqual({ view: [good], api: good });
    } finally {
      writeFileSync(modelFile, original);
    }
  }, 60_000);

  it('a held run is published only with a reason, then logged as an override', async () => {
    const { rows } = await t.db.pool.query<{ run_id: number }>(
      `select run_id::int from batchcast.runs where status = 'held' order by run_id desc limit 1`,
    );
    const held = rows[0].run_id;
    await expect(publishGeneration(t.db, config, held)).rejects.toThrow(/held back by a gate .*--reason/);
    const out = await publishGeneration(t.db, config, held, 'checked with the team: new catalogue');
    expect(out.action).toBe('override');
    expect(await served()).toEqual({ view: [held], api: held });
    const log2 = await t.db.pool.query('select action, reason, previous_run_id::int from batchcast.publish_log where run_id = $1', [held]);
    expect(log2.rows).toEqual([{ action: 'override', reason: 'checked with the team: new catalogue', previous_run_id: good }]);
    expect((await runOf(held)).status).toBe('succeeded');
    await publishGeneration(t.db, config, good); // back to the good generation
    expect(await served()).toEqual({ view: [good], api: good });
  }, 60_000);
});

describe('shadow runs', () => {
  it('a candidate that gives everyone the same items: compared, printed, exit 6, never visible', async () => {
    const r = await cli(['predict', '--job', fx.job, '--date', d2, '--shadow', '--model', sameItemsModel]);
    expect(r.code).toBe(6);
    expect(r.stdout).toMatch(new RegExp(`^shadow run \\d+: job guard, date ${d2}, 600 users .*not published; compared with run ${good}`));
    expect(r.stdout).toMatch(/mean overlap@K/);
    expect(r.stdout).toMatch(/min_catalog_coverage\s+value\s+0\.08333\s+0\.1667\s+FAIL/);
    expect(r.stderr).toMatch(new RegExp(`batchcast: job guard, date ${d2}, run \\d+ \\(shadow\\) fails gate min_catalog_coverage`));
    const { rows } = await t.db.pool.query<{ run_id: number; model_path: string }>(
      `select run_id::int, model_path from batchcast.runs where status = 'shadow'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].model_path).toBe(sameItemsModel);
    expect(await served()).toEqual({ view: [good], api: good });
    const anyView = await t.db.pool.query('select 1 from batchcast.recommendations where run_id = $1 limit 1', [rows[0].run_id]);
    expect(anyView.rows).toHaveLength(0);
  }, 120_000);

  it('the same model in shadow passes (exit 0) and can be promoted with publish --run', async () => {
    const r = await predict({ job: fx.job, date: d2, config, db: t.db, log, shadow: true });
    expect(r.status).toBe('shadow');
    expect(r.guard.failed).toEqual([]);
    // the same file as the date it replaces, on purpose: a rerun, so the "same input again" gate is skipped
    expect(r.guard.verdicts.find((v) => v.gate === 'min_changed_features')).toMatchObject({ value: null, passed: true });
    expect(r.guard.comparison!.meanOverlapAtK).toBe(1);
    expect(r.guard.comparison!.meanRbo).toBeCloseTo(1, 10);
    expect(r.guard.comparison!.itemJsDistance).toBe(0);
    expect(await served()).toEqual({ view: [good], api: good });
    const out = await publishGeneration(t.db, config, r.runId);
    expect(out.action).toBe('override');
    expect(await served()).toEqual({ view: [r.runId], api: r.runId });
    await publishGeneration(t.db, config, good);
  }, 60_000);

  it('--model without --shadow is refused', async () => {
    await expect(predict({ job: fx.job, date: d2, config, db: t.db, log, modelPath: sameItemsModel })).rejects.toThrow(
      /only runs in shadow; add --shadow/,
    );
  });
});

describe('batchcast compare', () => {
  it('compares any two runs, as a table and as JSON', async () => {
    const { rows } = await t.db.pool.query<{ run_id: number }>(
      `select run_id::int from batchcast.runs where prediction_date = $1 and status = 'succeeded' order by run_id limit 1`,
      [d1],
    );
    const c = await compareGenerations(t.db, config, good, rows[0].run_id);
    expect(c).toMatchObject({ runId: good, referenceRunId: rows[0].run_id, sampleUsers: 600, usersRatio: 1 });
    const json = await cli(['compare', '--run', String(good), '--run', String(rows[0].run_id), '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(c);
    const table = await cli(['compare', '--run', String(good), '--run', String(rows[0].run_id)]);
    expect(table.stdout).toMatch(/mean RBO \(p = 0\.9\)\s+0\.\d+/);
    expect((await cli(['compare', '--run', String(good)])).code).toBe(2);
  }, 60_000);
});

describe('retention', () => {
  it('prunes held and shadow runs like any unpublished generation, never the published one', async () => {
    const before = await t.db.pool.query<{ run_id: number }>(
      `select run_id::int from batchcast.runs where prediction_date = $1 and status in ('held', 'shadow') and pruned_at is null`,
      [d2],
    );
    expect(before.rows.length).toBeGreaterThan(0);
    const r = await pruneTables(t.db, config, { keep: 1, job: fx.job, date: d2 });
    expect(r.dropped).toEqual(expect.arrayContaining(before.rows.map((x) => x.run_id)));
    expect(r.dropped).not.toContain(good);
    expect(await served()).toEqual({ view: [good], api: good });
  }, 60_000);
});

describe("yesterday's file under today's date", () => {
  it('is held by min_changed_features, and the day after with new data publishes', async () => {
    const d3 = '2026-11-21';
    const d3Dir = path.join(fx.featuresDir, `dt=${d3}`);
    cpSync(path.join(fx.featuresDir, `dt=${d2}`), d3Dir, { recursive: true });
    try {
      const r = await predict({ job: fx.job, date: d3, config, db: t.db, log });
      expect(r.status).toBe('held');
      expect(r.guard.referenceRunId).toBe(good);
      expect(r.guard.line).toMatch(
        new RegExp(
          `held: gate min_changed_features = 0 \\(all ${fx.featureNames.length} feature profiles equal ${d2}'s: the same input again\\?\\), threshold 1`,
        ),
      );
      const published = await t.db.pool.query('select 1 from batchcast.published where job = $1 and prediction_date = $2', [fx.job, d3]);
      expect(published.rows).toHaveLength(0);
      expect(await served()).toEqual({ view: [good], api: good });
      // one feature moved (a daily figure such as the temperature): a new day, published
      rmSync(d3Dir, { recursive: true });
      const { ids, features } = fx.users.get(d2)!;
      const rows = ids.map((id, i) => ({ id, features: Array.from(features[i]).map((v, j) => (j === 0 ? v + 0.01 : v)) }));
      await writeFeatures(path.join(d3Dir, 'part-0.parquet'), rows, {
        idType: 'int',
        featureMode: 'columns',
        featureNames: fx.featureNames,
      });
      const next = await predict({ job: fx.job, date: d3, config, db: t.db, log });
      expect(next.guard.verdicts.find((v) => v.gate === 'min_changed_features')).toMatchObject({ value: 1, passed: true });
      expect(next.status).toBe('published');
    } finally {
      rmSync(d3Dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a run that skipped bad rows', () => {
  it('counts NULL, NaN and Inf per feature over every row', async () => {
    const skip = await makeFixture({
      name: 'guardskip',
      idType: 'string',
      output: 'scores',
      featureMode: 'list',
      users: 100,
      items: 20,
      k: 3,
      dates: [d1],
      job: { bad_rows: { mode: 'skip', max_bad_fraction: 0.1 } },
      filesPerDate: 1,
    });
    const { ids, features } = skip.users.get(d1)!;
    const rows = ids.map((id, i) => ({ id, features: Array.from(features[i]) as (number | null)[] }));
    rows[0].features[1] = null;
    rows[1].features[1] = null;
    rows[2].features[4] = NaN;
    await writeFeatures(
      path.join(skip.featuresDir, `dt=${d1}`, 'part-0.parquet'),
      rows.map((r) => ({ ...r, features: r.features.map((v) => (Number.isNaN(v) ? ('NaN' as never) : v)) })),
      { idType: 'string', featureMode: 'list', featureNames: skip.featureNames },
    );
    const cfg = loadConfig({ databaseUrl: t.url, root: skip.root, workers: 1, intraOpThreads: 1 }, {});
    const r = await predict({ job: skip.job, date: d1, config: cfg, db: t.db, log });
    expect(r.rejected).toBe(3);
    const { rows: p } = await t.db.pool.query<{ inputs: InputProfile; outputs: OutputProfile }>(
      'select inputs, outputs from batchcast.run_profiles where run_id = $1',
      [r.runId],
    );
    const f = p[0].inputs.features;
    expect(f.map((x) => x.name)).toEqual(skip.featureNames.map((_, j) => `features[${j + 1}]`));
    expect([f[1].nulls, f[1].nans, f[4].nans, f[4].nulls, f[0].nulls]).toEqual([2, 0, 1, 0, 0]);
    expect(p[0].inputs.rows).toBe(100);
    expect(p[0].outputs.scoredRatio).toBeCloseTo(97 / 100, 10);
  }, 60_000);
});
