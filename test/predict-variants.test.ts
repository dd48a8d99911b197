// `predict` runs a compressed model unchanged (same job file apart from model.path), and the bench's
// generation comparison reads both published generations back and measures how much they agree.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareGenerations } from '../bench/agreement.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel, type Precision } from '../src/demo/build-model.ts';
import { predict } from '../src/run/predict.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb('variants');
});
afterAll(async () => {
  await t?.drop();
});

const date = '2026-11-20';
const users = 900;

/** A fixture whose model is the given variant of the same weights, features and items (same seed). */
async function variantFixture(precision: Precision): Promise<Fixture> {
  const fx = await makeFixture({
    name: `variant_${precision.replace('-', '_')}`,
    idType: 'int',
    output: 'top_k',
    featureMode: 'list',
    users,
    items: 300,
    k: 10,
    dates: [date],
    seed: 21,
  });
  const modelFile = path.join(fx.root, 'data', fx.job, 'model.onnx');
  writeFileSync(modelFile, buildTwoTowerModel(fx.weights, { k: fx.k, output: 'top_k', version: `${fx.job}-v1`, precision }));
  return fx;
}

async function run(fx: Fixture) {
  const config = loadConfig({ databaseUrl: t.url, root: fx.root, chunkRows: 256, workers: 2, intraOpThreads: 1 }, {});
  return predict({ job: fx.job, date, config, db: t.db, log });
}

describe('compressed models through predict', () => {
  it('int8 and fp16 publish a full generation that agrees with fp32 user by user', async () => {
    const fp32 = await variantFixture('fp32');
    expect((await run(fp32)).rows).toBe(users);
    const same = await compareGenerations(t.url, { job: fp32.job, date }, { job: fp32.job, date }, 10);
    expect(same).toEqual({ users, unmatched: 0, k: 10, meanOverlapAtK: 1, meanRbo: expect.closeTo(1, 12) });

    for (const precision of ['int8', 'fp16'] as const) {
      const fx = await variantFixture(precision);
      expect((await run(fx)).rows).toBe(users);
      const a = await compareGenerations(t.url, { job: fp32.job, date }, { job: fx.job, date }, 10, { page: 128 }); // several pages, ragged ends
      expect(a.users).toBe(users);
      expect(a.unmatched).toBe(0);
      // not identical (the weights were rounded) but close: a random top 10 of 300 would overlap ~0.03
      expect(a.meanOverlapAtK).toBeGreaterThanOrEqual(precision === 'int8' ? 0.9 : 0.97);
      expect(a.meanRbo).toBeGreaterThanOrEqual(precision === 'int8' ? 0.88 : 0.95);
    }
  });

  it('counts users present in one generation only', async () => {
    const full = await variantFixture('fp32');
    const fewer = await makeFixture({
      name: 'variant_fewer',
      idType: 'int',
      output: 'top_k',
      featureMode: 'list',
      users: 300,
      items: 300,
      k: 10,
      dates: [date],
      seed: 21,
    });
    await run(full);
    await run(fewer);
    const a = await compareGenerations(t.url, { job: full.job, date }, { job: fewer.job, date }, 10, { page: 100 });
    expect(a.users).toBe(300);
    expect(a.unmatched).toBe(users - 300);
    expect(a.meanOverlapAtK).toBe(1); // same seed: the first 300 users have the same features and model
  });
});
