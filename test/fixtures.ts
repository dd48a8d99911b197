// Small, fully known inputs for tests: features written to Parquet through DuckDB, a random two-tower
// model, an items file and a job file, all in a temp project root. The tests compute expectations from
// the same numbers independently of ONNX Runtime.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildTwoTowerModel, randomTwoTower, type TwoTowerWeights } from '../src/demo/build-model.ts';
import { rng } from '../src/demo/random.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';

export interface FixtureOptions {
  name: string;
  idType: 'int' | 'string';
  output: 'top_k' | 'scores';
  featureMode: 'columns' | 'list';
  users: number;
  items: number;
  inputSize?: number;
  k?: number;
  dates: string[];
  seed?: number;
  batchSize?: number;
  /** extra fields for the job file */
  job?: Record<string, unknown>;
  /** Parquet files per date */
  filesPerDate?: number;
}

export interface Fixture {
  root: string;
  jobsDir: string;
  job: string;
  weights: TwoTowerWeights;
  itemIds: string[];
  /** per date: user ids and their float32 features */
  users: Map<string, { ids: string[]; features: Float32Array[] }>;
  k: number;
  featureNames: string[];
  featuresDir: string;
  jobFile: string;
}

export function userIdFor(idType: 'int' | 'string', i: number): string {
  return idType === 'int' ? String(1000 + i * 7) : `user-${i.toString(36)}-é`;
}

export async function writeFeatures(
  file: string,
  rows: { id: string; features: (number | null)[] }[],
  opts: { idType: 'int' | 'string'; featureMode: 'columns' | 'list'; featureNames: string[]; idColumn?: string },
): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const json = `${file}.jsonl`;
  const idCol = opts.idColumn ?? 'user_id';
  writeFileSync(
    json,
    rows
      .map((r) =>
        JSON.stringify(
          opts.featureMode === 'list'
            ? { [idCol]: opts.idType === 'int' && r.id !== null ? Number(r.id) : r.id, features: r.features }
            : {
                [idCol]: opts.idType === 'int' && r.id !== null ? Number(r.id) : r.id,
                ...Object.fromEntries(opts.featureNames.map((n, j) => [n, r.features[j]])),
              },
        ),
      )
      .join('\n') + '\n',
  );
  const size = opts.featureNames.length;
  const idType = opts.idType === 'int' ? 'BIGINT' : 'VARCHAR';
  const columns =
    opts.featureMode === 'list'
      ? `{'${idCol}': '${idType}', 'features': 'FLOAT[${size}]'}`
      : `{'${idCol}': '${idType}', ${opts.featureNames.map((n) => `'${n}': 'FLOAT'`).join(', ')}}`;
  await withDuckDB({}, async (conn) => {
    await conn.run(
      `COPY (SELECT * FROM read_json(${sqlString(json)}, columns = ${columns}, format = 'newline_delimited')) TO ${sqlString(file)} (FORMAT parquet)`,
    );
  });
}

export async function makeFixture(o: FixtureOptions): Promise<Fixture> {
  const root = mkdtempSync(path.join(os.tmpdir(), `batchcast-${o.name}-`));
  const dataDir = path.join(root, 'data', o.name);
  const jobsDir = path.join(root, 'jobs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(jobsDir, { recursive: true });
  const inputSize = o.inputSize ?? 6;
  const k = o.k ?? 5;
  const weights = randomTwoTower({ inputSize, hidden: 12, embedding: 8, items: o.items }, o.seed ?? 11);
  writeFileSync(path.join(dataDir, 'model.onnx'), buildTwoTowerModel(weights, { k, output: o.output, version: `${o.name}-v1` }));
  const itemIds = Array.from({ length: o.items }, (_, i) => (o.idType === 'int' ? String(50_000 + i * 3) : `item-${i}`));
  writeFileSync(path.join(dataDir, 'items.csv'), 'idx,item_id\n' + itemIds.map((id, i) => `${i},${id}`).join('\n') + '\n');
  const featureNames = Array.from({ length: inputSize }, (_, j) => `f${j}`);
  const users = new Map<string, { ids: string[]; features: Float32Array[] }>();
  const featuresDir = path.join(dataDir, 'features');
  const files = o.filesPerDate ?? 2;
  for (const [d, date] of o.dates.entries()) {
    const next = rng((o.seed ?? 11) * 100 + d);
    const ids = Array.from({ length: o.users }, (_, i) => userIdFor(o.idType, i));
    const features = ids.map(() => Float32Array.from({ length: inputSize }, () => next() * 2 - 1));
    users.set(date, { ids, features });
    const per = Math.ceil(o.users / files);
    for (let f = 0; f < files; f++) {
      const rows = ids.slice(f * per, (f + 1) * per).map((id, i) => ({ id, features: Array.from(features[f * per + i]) }));
      await writeFeatures(path.join(featuresDir, `dt=${date}`, `part-${f}.parquet`), rows, {
        idType: o.idType,
        featureMode: o.featureMode,
        featureNames,
      });
    }
  }
  const job = {
    features: {
      path: `data/${o.name}/features/dt=*/*.parquet`,
      partition_column: 'dt',
      user_id_column: 'user_id',
      ...(o.featureMode === 'list' ? { list_column: 'features', list_size: inputSize } : { columns: featureNames }),
    },
    model: {
      path: `data/${o.name}/model.onnx`,
      version: `${o.name}-v1`,
      input: 'features',
      output: o.output === 'top_k' ? { kind: 'top_k', values: 'top_scores', indices: 'top_indices' } : { kind: 'scores', name: 'scores' },
    },
    items: { path: `data/${o.name}/items.csv`, id_column: 'item_id', index_column: 'idx' },
    k,
    batch_size: o.batchSize ?? 64,
    ...o.job,
  };
  const jobFile = path.join(jobsDir, `${o.name}.json`);
  writeFileSync(jobFile, JSON.stringify(job, null, 2));
  return { root, jobsDir, job: o.name, weights, itemIds, users, k, featureNames, featuresDir, jobFile };
}

/** Brute-force top K in float64, straight from the weights: the reference the pipeline must match. */
export function bruteForceTopK(w: TwoTowerWeights, x: Float32Array, k: number): { indices: number[]; scores: number[] } {
  const h = new Float64Array(w.hidden);
  for (let j = 0; j < w.hidden; j++) {
    let s = w.b1[j];
    for (let f = 0; f < w.inputSize; f++) s += x[f] * w.w1[f * w.hidden + j];
    h[j] = Math.max(0, s);
  }
  const e = new Float64Array(w.embedding);
  for (let d = 0; d < w.embedding; d++) {
    let s = w.b2[d];
    for (let j = 0; j < w.hidden; j++) s += h[j] * w.w2[j * w.embedding + d];
    e[d] = s;
  }
  const scores = Array.from({ length: w.items }, (_, i) => {
    let s = w.itemBias[i];
    for (let d = 0; d < w.embedding; d++) s += e[d] * w.itemsT[d * w.items + i];
    return s;
  });
  const indices = scores
    .map((_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, k);
  return { indices, scores: indices.map((i) => scores[i]) };
}
