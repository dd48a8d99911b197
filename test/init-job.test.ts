// A newcomer's path, end to end through the CLI: their own two-tower model (input and outputs named as
// their exporter named them, a "batch_size" dimension), Parquet written by another tool (hyparquet-writer,
// not DuckDB), `init` to scaffold the job, `predict --dry-run` to check it, then `predict`, whose
// published top K must equal a brute-force top K computed here from the weights.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoTowerModel, randomTwoTower, type TwoTowerWeights } from '../src/demo/build-model.ts';
import { rng } from '../src/demo/random.ts';
import { bruteForceTopK } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

// The model's input order; the export has the same columns in another order, plus two it does not use.
const modelOrder = ['recency', 'frequency', 'basket_eur', 'age_norm', 'mobile_share'];
const fileOrder = ['age_norm', 'basket_eur', 'churn_score_old', 'frequency', 'mobile_share', 'recency'];
const dates = ['2026-11-19', '2026-11-20'];
const users = 400;
const items = 90;

let t: TestDb;
let root: string;
let weights: TwoTowerWeights;
const userFeatures = new Map<string, Float32Array>(); // customer id -> features in model order (for the last date)
let skus: string[]; // item id by the model's item index

function writeExport() {
  const next = rng(5);
  for (const date of dates) {
    const ids: bigint[] = [];
    const cols = new Map<string, number[]>(fileOrder.map((c) => [c, []]));
    for (let u = 0; u < users; u++) {
      const id = 7_000_000_000n + BigInt(u * 13);
      ids.push(id);
      const values = new Map(fileOrder.map((c) => [c, Math.fround(next() * 2 - 1)]));
      for (const c of fileOrder) cols.get(c)!.push(values.get(c)!);
      if (date === dates[1]) userFeatures.set(String(id), Float32Array.from(modelOrder.map((c) => values.get(c)!)));
    }
    const dir = path.join(root, 'exports', 'features', `dt=${date}`);
    mkdirSync(dir, { recursive: true });
    parquetWriteFile({
      filename: path.join(dir, 'part-00000.parquet'),
      columnData: [
        { name: 'customer_id', data: ids, type: 'INT64' },
        ...fileOrder.map((c) => ({ name: c, data: cols.get(c)!, type: 'FLOAT' as const })),
        { name: 'country', data: ids.map((_, i) => (i % 2 ? 'DE' : 'FR')), type: 'STRING' as const },
      ],
    });
  }
  // Items shuffled in the file; the "position" column is the model's item index.
  skus = Array.from({ length: items }, (_, i) => `sku-${(i * 37) % 1000}-${i}`);
  const order = Array.from({ length: items }, (_, i) => (i * 41) % items);
  parquetWriteFile({
    filename: path.join(root, 'exports', 'items.parquet'),
    columnData: [
      { name: 'sku', data: order.map((i) => skus[i]), type: 'STRING' },
      { name: 'position', data: order, type: 'INT32' },
      { name: 'title', data: order.map((i) => `Product ${i}`), type: 'STRING' },
    ],
  });
}

beforeAll(async () => {
  t = await createTestDb('init');
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-init-'));
  weights = randomTwoTower({ inputSize: modelOrder.length, hidden: 12, embedding: 8, items }, 23);
  mkdirSync(path.join(root, 'models'));
  writeFileSync(
    path.join(root, 'models', 'two_tower.onnx'),
    buildTwoTowerModel(weights, {
      k: 8,
      output: 'top_k',
      inputName: 'user_features',
      outputNames: { values: 'values', indices: 'indices' },
      batchDim: 'batch_size',
      version: 'shop-v1',
    }),
  );
  writeFileSync(
    path.join(root, 'models', 'scorer.onnx'),
    buildTwoTowerModel(weights, {
      k: 8,
      output: 'scores',
      inputName: 'x',
      outputNames: { scores: 'logits' },
      batchDim: 'batch_size',
      version: 'shop-scores-v1',
      metadata: { feature_names: JSON.stringify(modelOrder) },
    }),
  );
  writeExport();
});
afterAll(async () => {
  await t?.drop();
});

const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: root });
const initArgs = (name: string, model: string) => [
  'init',
  '--name',
  name,
  '--features',
  'exports/features/dt=*/*.parquet',
  '--model',
  model,
  '--items',
  'exports/items.parquet',
];

async function runsOf(job: string) {
  const { rows } = await t.db.pool.query('select count(*)::int as n from batchcast.runs where job = $1', [job]);
  return rows[0].n as number;
}

async function expectBruteForceTopK(job: string, k: number) {
  const { rows } = await t.db.pool.query<{ user_id: string; item_id: string; score: number }>(
    'select user_id, item_id, score from batchcast.recommendations where job = $1 and prediction_date = $2 order by user_id, rank',
    [job, dates[1]],
  );
  expect(rows.length).toBe(users * k);
  const byUser = new Map<string, typeof rows>();
  for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
  expect(new Set(byUser.keys())).toEqual(new Set(userFeatures.keys()));
  for (const [id, x] of userFeatures) {
    const want = bruteForceTopK(weights, x, k);
    const got = byUser.get(id)!;
    expect(
      got.map((r) => r.item_id),
      `user ${id}`,
    ).toEqual(want.indices.map((i) => skus[i]));
    got.forEach((r, j) => expect(Math.abs(r.score - want.scores[j])).toBeLessThan(1e-5));
  }
}

describe('init -> predict --dry-run -> predict, on a model and Parquet from elsewhere', () => {
  it('asks for --columns when column names cannot fix the model input order', async () => {
    const r = await runCli(initArgs('shop', 'models/two_tower.onnx'), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the model's input "user_features" takes 5 value\(s\) per user; the files have 6 number column\(s\)/);
    expect(r.stderr).toContain('pass --columns');
    expect(existsSync(path.join(root, 'jobs', 'shop.json'))).toBe(false);
  });

  it('writes the job from what it found, dry-runs it without writing, then publishes the brute-force top K', async () => {
    const init = await runCli([...initArgs('shop', 'models/two_tower.onnx'), '--columns', modelOrder.join(',')], env());
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('partition column "dt", 2 date(s) 2026-11-19 .. 2026-11-20');
    expect(init.stdout).toContain('output: top-K values "values" and item indices "indices" (8 per user)');
    expect(init.stdout).toContain('ignored column(s) "churn_score_old", "country"');
    expect(init.stdout).toContain(`npx batchcast predict --job shop --date ${dates[1]} --dry-run`);
    const job = JSON.parse(readFileSync(path.join(root, 'jobs', 'shop.json'), 'utf8'));
    expect(job).toMatchObject({
      features: {
        path: 'exports/features/dt=*/*.parquet',
        partition_column: 'dt',
        user_id_column: 'customer_id',
        columns: modelOrder,
        allow_extra_columns: true,
      },
      model: { path: 'models/two_tower.onnx', input: 'user_features', output: { kind: 'top_k', values: 'values', indices: 'indices' } },
      items: { path: 'exports/items.parquet', id_column: 'sku', index_column: 'position' },
      k: 8,
    });
    expect(job.$schema).toMatch(/schema\/job\.schema\.json$/);

    const dry = await runCli(['predict', '--job', 'shop', '--date', dates[1], '--dry-run', '--json'], env());
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      ok: true,
      job: 'shop',
      date: dates[1],
      rows: users,
      items,
      idKind: 'int',
      sample: { rows: 256, scored: 256, bad: 0 },
    });
    expect(await runsOf('shop')).toBe(0); // the dry run wrote nothing but the migrations

    const missing = await runCli(['predict', '--job', 'shop', '--date', '2026-11-21', '--dry-run'], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no features partition');

    const run = await runCli(['predict', '--job', 'shop', '--date', dates[1], '--json'], env());
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ job: 'shop', rows: users });
    await expectBruteForceTopK('shop', 8);
  });

  it('takes the feature order from the model metadata and a "logits" output over all items, and --check dry-runs it', async () => {
    const init = await runCli([...initArgs('shop_scores', 'models/scorer.onnx'), '--k', '6', '--check'], env());
    expect(init.stderr).not.toMatch(/"level":50/);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("feature order: from the model's metadata (feature_names)");
    expect(init.stdout).toContain('output: "logits" scores every item (90 items)');
    expect(init.stdout).toContain('dry run of job shop_scores for 2026-11-20: every check passed');
    const job = JSON.parse(readFileSync(path.join(root, 'jobs', 'shop_scores.json'), 'utf8'));
    expect(job.model).toMatchObject({ input: 'x', output: { kind: 'scores', name: 'logits' } });
    expect(await runsOf('shop_scores')).toBe(0);
    const run = await runCli(['predict', '--job', 'shop_scores', '--date', dates[1], '--json'], env());
    expect(run.code).toBe(0);
    await expectBruteForceTopK('shop_scores', 6);
  });

  it('refuses an items file that does not match the model, and an existing job without --force', async () => {
    writeFileSync(path.join(root, 'short-items.csv'), 'sku\n' + skus.slice(0, 50).join('\n') + '\n');
    const short = await runCli(
      [
        'init',
        '--name',
        'short',
        '--features',
        'exports/features/dt=*/*.parquet',
        '--model',
        'models/scorer.onnx',
        '--items',
        'short-items.csv',
      ],
      env(),
    );
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('has 50 rows but the model\'s output "logits" scores 90 items');
    const again = await runCli([...initArgs('shop', 'models/two_tower.onnx'), '--columns', modelOrder.join(',')], env());
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; pass --force');
  });
});
