// What exported-models.test.ts shares: a database, one date of features written as pandas and Spark leave
// them, models shaped as exporters leave them, and the brute-force top K every run must publish.
// The bindings are live: the test file reads them after setUpExportedModels' beforeAll has filled them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, expect } from 'vitest';
import { DataType, type Graph, type Node, type ValueInfo, writeModel } from '../src/demo/onnx-writer.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

export const F = 4;
export const I = 20;
export const U = 300; // not a multiple of 7: the last batch of the fixed-batch-7 model is padded
export const K = 5;
export const date = '2026-11-20';
export const columns = ['a', 'b', 'c', 'd'];
export const W = new Float32Array(F * I).map((_, i) => Math.fround(Math.sin(i * 1.7)));
export const x = Array.from({ length: U }, (_, u) => columns.map((_, j) => Math.cos(u * (j + 1) + 0.25)));

export let t: TestDb;
export let root: string;

export function writeOnnx(
  name: string,
  nodes: Node[],
  inputs: ValueInfo[],
  outputs: ValueInfo[],
  extra: Graph['initializers'] = [],
  externalWeights?: string,
) {
  if (externalWeights) writeFileSync(path.join(root, 'models', externalWeights), new Uint8Array(W.buffer));
  const w = {
    name: 'W',
    type: DataType.FLOAT,
    dims: [F, I],
    data: W,
    ...(externalWeights ? { external: { location: externalWeights, offset: 0 } } : {}),
  };
  const graph: Graph = { name, nodes, inputs, outputs, initializers: [w, ...extra] };
  writeFileSync(path.join(root, 'models', `${name}.onnx`), writeModel(graph, { producer: 'pytorch', version: '2.5' }));
}

export const input = (batch: number | string, type: ValueInfo['type'] = DataType.FLOAT): ValueInfo => ({
  name: 'x',
  type,
  shape: [batch, F],
});
export const scores = (batch: number | string, type: ValueInfo['type'] = DataType.FLOAT): ValueInfo => ({
  name: 'scores',
  type,
  shape: [batch, I],
});
export const matmul: Node = { op: 'MatMul', inputs: ['x', 'W'], outputs: ['scores'] };

/** The database, the files and the models every test of exported-models.test.ts shares. */
export function setUpExportedModels(): void {
  beforeAll(async () => {
    t = await createTestDb('exported_models');
    root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-exported-'));
    mkdirSync(path.join(root, 'features', `dt=${date}`), { recursive: true });
    mkdirSync(path.join(root, 'models'));
    const compact = path.join(root, 'hive', 'features', `ds=${date.replaceAll('-', '')}`);
    mkdirSync(compact, { recursive: true });
    for (const filename of [path.join(root, 'features', `dt=${date}`, 'part-0.parquet'), path.join(compact, 'part-00000.snappy.parquet')])
      parquetWriteFile({
        filename,
        columnData: [
          { name: 'user_id', data: x.map((_, u) => `u${u}`), type: 'STRING' },
          ...columns.map((c, j) => ({ name: c, data: x.map((row) => row[j]), type: 'DOUBLE' as const })),
          { name: 'is_mobile', data: x.map((_, u) => u % 3 === 0), type: 'BOOLEAN' },
        ],
      });
    writeFileSync(path.join(root, 'items.csv'), `item_id\n${Array.from({ length: I }, (_, i) => `it${i}`).join('\n')}\n`);
    writeOnnx('dynamic', [matmul], [input('batch')], [scores('batch')]);
    writeOnnx('external_weights', [matmul], [input('batch')], [scores('batch')], [], 'external_weights.onnx.data');
    writeOnnx('batch1', [matmul], [input(1)], [scores(1)]);
    // dimensions with neither a size nor a name, as skl2onnx writes None
    writeOnnx(
      'unknown_dims',
      [matmul],
      [{ name: 'x', type: DataType.FLOAT, shape: [null, F] }],
      [{ name: 'scores', type: DataType.FLOAT, shape: [null, null] }],
    );
    writeOnnx('batch7', [matmul], [input(7)], [scores(7)]);
    writeOnnx(
      'float64_in',
      [
        { op: 'Cast', inputs: ['x'], outputs: ['xf'], attributes: { to: { int: DataType.FLOAT } } },
        { op: 'MatMul', inputs: ['xf', 'W'], outputs: ['scores'] },
      ],
      [input('N', DataType.DOUBLE)],
      [scores('N')],
    );
    writeOnnx(
      'float64_out',
      [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['s'] },
        { op: 'Cast', inputs: ['s'], outputs: ['scores'], attributes: { to: { int: DataType.DOUBLE } } },
      ],
      [input('N')],
      [scores('N', DataType.DOUBLE)],
    );
    writeOnnx(
      'with_embedding',
      [matmul, { op: 'Identity', inputs: ['x'], outputs: ['user_embedding'] }],
      [input('N')],
      [{ name: 'user_embedding', type: DataType.FLOAT, shape: ['N', F] }, scores('N')],
    );
  });
  afterAll(async () => {
    await t?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });
}

export const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: root });

/** The top K of x . W for every user, from the float32 inputs the files hold (or the rows given). */
export function bruteForce(rows = x): Map<string, { ids: string[]; scores: number[] }> {
  const out = new Map<string, { ids: string[]; scores: number[] }>();
  rows.forEach((row, u) => {
    const f = row.map(Math.fround);
    const s = Array.from({ length: I }, (_, i) => Math.fround(f.reduce((acc, v, j) => acc + v * W[j * I + i], 0)));
    const order = s
      .map((v, i) => [v, i] as const)
      .sort((p, q) => q[0] - p[0] || p[1] - q[1])
      .slice(0, K);
    out.set(`u${u}`, { ids: order.map(([, i]) => `it${i}`), scores: order.map(([v]) => v) });
  });
  return out;
}

export async function expectTopK(job: string, want: Map<string, { ids: string[]; scores: number[] }>) {
  const { rows } = await t.db.pool.query<{ user_id: string; item_id: string; score: number }>(
    'select user_id, item_id, score from batchcast.recommendations where job = $1 and prediction_date = $2 order by user_id, rank',
    [job, date],
  );
  expect(rows.length).toBe(U * K);
  const got = new Map<string, typeof rows>();
  for (const r of rows) got.set(r.user_id, [...(got.get(r.user_id) ?? []), r]);
  for (const [user, w] of want) {
    const g = got.get(user)!;
    expect(
      g.map((r) => r.item_id),
      `user ${user}`,
    ).toEqual(w.ids);
    g.forEach((r, j) => expect(Math.abs(r.score - w.scores[j])).toBeLessThan(1e-5));
  }
}

/** `batchcast init` with this file's usual flags (the four columns, k), which must succeed. */
export async function init(job: string, model: string, o: { features?: string; items?: string; flags?: string[] } = {}) {
  const r = await runCli(
    [
      'init',
      '--name',
      job,
      '--features',
      o.features ?? 'features/dt=*/*.parquet',
      '--model',
      `models/${model}.onnx`,
      '--items',
      o.items ?? 'items.csv',
      ...(o.flags ?? ['--columns', columns.join(','), '--k', String(K)]),
    ],
    env(),
  );
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** `batchcast predict` of one date, which must publish. */
export async function predict(job: string, day = date) {
  const r = await runCli(['predict', '--job', job, '--date', day], env());
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** A date with no files fails with exit 2, naming where it looked. */
export async function expectNoPartition(job: string, day: string, where: string) {
  const r = await runCli(['predict', '--job', job, '--date', day], env());
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('no features partition: no file matches');
  expect(r.stderr).toContain(where);
}
