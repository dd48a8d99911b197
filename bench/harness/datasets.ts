// Benchmark inputs: one date of features as a FLOAT[32] list column, a two-tower model and its items,
// and a job file, under data/bench/<model>-<users>/. Generated once and reused (a stamp file says what).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildTwoTowerModel, type Precision, randomTwoTower } from '../../src/demo/build-model.ts';
import { writeFeaturePartitions } from '../../src/demo/generate.ts';

export const BENCH_DATE = '2026-11-20';

export interface ModelSpec {
  name: 'heavy' | 'light';
  inputSize: number;
  hidden: number;
  embedding: number;
  items: number;
  k: number;
  output: 'top_k' | 'scores';
  batchSize: number;
}

// heavy: compute-bound (10k items, TopK inside the model). light: write-bound (100 items, JS top-K).
export const MODELS: Record<ModelSpec['name'], ModelSpec> = {
  heavy: { name: 'heavy', inputSize: 32, hidden: 64, embedding: 32, items: 10_000, k: 10, output: 'top_k', batchSize: 256 },
  light: { name: 'light', inputSize: 32, hidden: 32, embedding: 16, items: 100, k: 10, output: 'scores', batchSize: 1024 },
};

export interface Dataset {
  root: string;
  job: string;
  users: number;
  spec: ModelSpec;
  modelFile: string;
  featuresDir: string;
}

function featuresSql(date: string, first: number, count: number, size: number): string {
  const v = `list_transform(range(${size}), j -> ((hash(i, j, DATE '${date}') % 2000003)::FLOAT / 1000001.5 - 1.0))`;
  return `SELECT i AS user_id, ${v}::FLOAT[${size}] AS features FROM range(${first + 1}, ${first + 1 + count}) t(i) ORDER BY i`;
}

export async function ensureDataset(benchDir: string, spec: ModelSpec, users: number, log: (m: string) => void): Promise<Dataset> {
  const job = `bench-${spec.name}-${users}`;
  const root = path.join(benchDir, 'root');
  const dir = path.join(root, 'data', job);
  const featuresDir = path.join(dir, 'features');
  const stampFile = path.join(dir, 'stamp.json');
  const stamp = JSON.stringify({ spec, users, date: BENCH_DATE, v: 1 });
  const ds: Dataset = { root, job, users, spec, modelFile: path.join(dir, 'model.onnx'), featuresDir };
  mkdirSync(path.join(root, 'jobs'), { recursive: true });
  writeFileSync(
    path.join(root, 'jobs', `${job}.json`),
    JSON.stringify(
      {
        description: `benchmark: ${spec.name} model, ${users} users`,
        features: {
          path: `data/${job}/features/dt=*/*.parquet`,
          partition_column: 'dt',
          user_id_column: 'user_id',
          list_column: 'features',
          list_size: spec.inputSize,
        },
        model: {
          path: `data/${job}/model.onnx`,
          version: `bench-${spec.name}-v1`,
          input: 'features',
          output:
            spec.output === 'top_k' ? { kind: 'top_k', values: 'top_scores', indices: 'top_indices' } : { kind: 'scores', name: 'scores' },
        },
        items: { path: `data/${job}/items.csv`, id_column: 'item_id', index_column: 'idx' },
        k: spec.k,
        batch_size: spec.batchSize,
        retention: { keep: 1 },
      },
      null,
      2,
    ),
  );
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return ds;

  log(`generating ${job}: ${users} users, ${spec.items} items`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(ds.modelFile, buildTwoTowerModel(benchWeights(spec), { k: spec.k, output: spec.output, version: `bench-${spec.name}-v1` }));
  writeFileSync(
    path.join(dir, 'items.csv'),
    'idx,item_id\n' + Array.from({ length: spec.items }, (_, i) => `${i},item-${i}`).join('\n') + '\n',
  );
  await writeFeaturePartitions(featuresDir, [BENCH_DATE], users, 1_000_000, (date, first, count) =>
    featuresSql(date, first, count, spec.inputSize),
  );
  writeFileSync(stampFile, stamp);
  return ds;
}

const benchWeights = (spec: ModelSpec) => randomTwoTower(spec, 20261120);

/**
 * A compressed variant of a dataset's model (same weights, build-model.ts) under a job of its own,
 * `<job>-<precision>`: the same job file apart from model.path (and model.version, so the ledger tells
 * them apart), so that its generation is published beside fp32's and the two can be compared.
 */
export function ensureVariant(ds: Dataset, precision: Precision): Dataset {
  if (precision === 'fp32') return ds;
  const job = `${ds.job}-${precision}`;
  const modelFile = path.join(path.dirname(ds.modelFile), `model-${precision}.onnx`);
  const version = `bench-${ds.spec.name}-v1-${precision}`;
  writeFileSync(modelFile, buildTwoTowerModel(benchWeights(ds.spec), { k: ds.spec.k, output: ds.spec.output, version, precision }));
  const definition = JSON.parse(readFileSync(path.join(ds.root, 'jobs', `${ds.job}.json`), 'utf8'));
  definition.description = `${definition.description}, ${precision} model`;
  definition.model = { ...definition.model, path: path.relative(ds.root, modelFile), version };
  writeFileSync(path.join(ds.root, 'jobs', `${job}.json`), JSON.stringify(definition, null, 2));
  return { ...ds, job, modelFile };
}
