// Models and files as other tools leave them, through `init` and `predict` (and once the scoring endpoint);
// each must publish the brute-force top K of x . W computed here, as a plain float32 model would.
// Models: a batch dimension fixed at 1 (or 7) by torch.onnx.export without dynamic axes, dimensions with
// no size (skl2onnx's None), float64 inputs or outputs, an embedding beside the scores, weights as ONNX
// external data, [batch, 1, items] and [batch] outputs, an unsorted TopK, one input per feature column
// (Keras, skl2onnx pipelines) or inputs of several columns (model.inputs).
// Files: BOOLEAN features, a column INT64 in one file and DOUBLE in the next (pandas), item ids that look
// like numbers, date folders written ds=YYYYMMDD, Spark's year=/month=/day= folders.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { DataType, type Node } from '../src/demo/onnx-writer.ts';
import {
  bruteForce,
  columns,
  date,
  env,
  expectNoPartition,
  expectTopK,
  F,
  I,
  init,
  input,
  K,
  matmul,
  predict,
  root,
  scores,
  setUpExportedModels,
  t,
  U,
  writeOnnx,
  x,
} from './exported-models-fixture.ts';
import { runCli } from './run-cli.ts';
import { closeAgent, post, recordingLogger, startTestServer } from './serve-helpers.ts';

setUpExportedModels();

describe('models exported without tuning', () => {
  it.each(['dynamic', 'unknown_dims', 'batch1', 'batch7', 'float64_in', 'float64_out', 'with_embedding', 'external_weights'])(
    '%s: init scaffolds it and predict publishes the brute-force top K',
    async (name) => {
      const job = `m_${name}`;
      const scaffolded = await init(job, name);
      if (name === 'with_embedding') expect(scaffolded.stdout).toContain('output: "scores" scores every item');
      const run = await predict(job);
      if (name.startsWith('batch')) expect(run.stdout + run.stderr).toContain(`fixes its batch size at ${name.slice(5)} rows`);
      else expect(run.stdout + run.stderr).not.toContain('fixes its batch size');
      await expectTopK(job, bruteForce());
    },
  );

  it('a BOOLEAN column is a feature of 0 or 1', async () => {
    await init('m_flag', 'dynamic', { flags: ['--columns', 'a,b,c,is_mobile', '--k', String(K)] });
    await predict('m_flag');
    await expectTopK('m_flag', bruteForce(x.map((row, u) => [row[0], row[1], row[2], u % 3 === 0 ? 1 : 0])));
  });

  it('a column typed differently in two files of a date (INT64 in one, DOUBLE in the other, as pandas writes) keeps every value', async () => {
    // part-0 comes first and holds "a" as INT64; part-1 holds fractional values of "a" as DOUBLE
    const day = '2026-11-21';
    // as many users as the date before (300), so the users-ratio gate has nothing to say
    const rows = Array.from({ length: 300 }, (_, u) =>
      columns.map((_, j) => (u < 150 && j === 0 ? Math.round(3 * Math.cos(u)) : Math.cos(u * (j + 2) + 0.5))),
    );
    const dir = path.join(root, 'features', `dt=${day}`);
    mkdirSync(dir, { recursive: true });
    for (const [part, from, to] of [
      [0, 0, 150],
      [1, 150, 300],
    ] as const) {
      parquetWriteFile({
        filename: path.join(dir, `part-${part}.parquet`),
        columnData: [
          { name: 'user_id', data: rows.slice(from, to).map((_, i) => `u${from + i}`), type: 'STRING' },
          part === 0
            ? { name: 'a', data: rows.slice(from, to).map((r) => BigInt(r[0])), type: 'INT64' }
            : { name: 'a', data: rows.slice(from, to).map((r) => r[0]), type: 'DOUBLE' },
          ...columns.slice(1).map((c, j) => ({ name: c, data: rows.slice(from, to).map((r) => r[j + 1]), type: 'DOUBLE' as const })),
          { name: 'is_mobile', data: rows.slice(from, to).map(() => false), type: 'BOOLEAN' }, // the same columns as the other date
        ],
      });
    }
    await predict('m_dynamic', day);
    const { rows: got } = await t.db.pool.query<{ user_id: string; item_id: string }>(
      'select user_id, item_id from batchcast.recommendations where job = $1 and prediction_date = $2 order by user_id, rank',
      ['m_dynamic', day],
    );
    const want = bruteForce(rows);
    expect(got.length).toBe(300 * K);
    for (const [user, w] of want)
      expect(
        got.filter((r) => r.user_id === user).map((r) => r.item_id),
        `user ${user}`,
      ).toEqual(w.ids);
  });

  it('item ids in a CSV that look like numbers stay as written (1e5, 3.50, 20 digits)', async () => {
    // every value parses as a number, so DuckDB's CSV sniffing alone would make the column DOUBLE
    const ids = Array.from({ length: I }, (_, i) => (i === 0 ? '1e5' : i === 1 ? '98765432109876543210' : `${i}.50`));
    writeFileSync(path.join(root, 'items-numeric.csv'), `sku,title\n${ids.map((id, i) => `${id},Product ${i}`).join('\n')}\n`);
    await init('m_skus', 'dynamic', {
      items: 'items-numeric.csv',
      flags: ['--item-id-column', 'sku', '--columns', columns.join(','), '--k', String(K)],
    });
    await predict('m_skus');
    const want = new Map([...bruteForce()].map(([u, w]) => [u, { ...w, ids: w.ids.map((id) => ids[Number(id.slice(2))]) }]));
    await expectTopK('m_skus', want);
  });

  it('date folders written ds=YYYYMMDD: init finds the format, predict reads the date from it', async () => {
    mkdirSync(path.join(root, 'hive', 'features', 'ds=20261119'));
    writeFileSync(path.join(root, 'hive', 'features', 'ds=20261119', '_SUCCESS'), '');
    const scaffolded = await init('m_hive', 'dynamic', { features: 'hive/features/ds=*/*.parquet' });
    expect(scaffolded.stdout).toContain('partition column "ds" (dates written YYYYMMDD), 1 date(s) 2026-11-20 .. 2026-11-20');
    const job = JSON.parse(readFileSync(path.join(root, 'jobs', 'm_hive.json'), 'utf8'));
    expect(job.features).toMatchObject({ partition_column: 'ds', partition_format: 'YYYYMMDD' });
    await predict('m_hive');
    await expectTopK('m_hive', bruteForce());
    await expectNoPartition('m_hive', '2026-11-19', 'under ds=20261119/');
  });

  it("Spark's year=/month=/day= folders: init writes features.path with the date in it", async () => {
    // Spark writes integer partition values unpadded (month=9); an older date, 2026-09-05, shows it
    for (const [m, d] of [
      ['11', '20'],
      ['9', '5'],
    ]) {
      const dir = path.join(root, 'spark', 'year=2026', `month=${m}`, `day=${d}`);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'part-00000-3f2a.c000.snappy.parquet');
      if (m === '11') copyFileSync(path.join(root, 'features', `dt=${date}`, 'part-0.parquet'), file);
      else {
        // other values than 2026-11-20's: the same input twice would be held by the guardrails
        parquetWriteFile({
          filename: file,
          columnData: [
            { name: 'user_id', data: x.map((_, u) => `u${u}`), type: 'STRING' },
            ...columns.map((c, j) => ({ name: c, data: x.map((row) => row[j] * 0.9 + 0.05), type: 'DOUBLE' as const })),
            { name: 'is_mobile', data: x.map(() => true), type: 'BOOLEAN' },
          ],
        });
      }
      writeFileSync(path.join(dir, '_SUCCESS'), '');
    }
    const scaffolded = await init('m_spark', 'dynamic', { features: 'spark/year=*/month=*/day=*/*.parquet' });
    expect(scaffolded.stdout).toContain(
      'dates in the path spark/year={yyyy}/month={m}/day={d}/*.parquet, 2 date(s) 2026-09-05 .. 2026-11-20',
    );
    const job = JSON.parse(readFileSync(path.join(root, 'jobs', 'm_spark.json'), 'utf8'));
    expect(job.features.path).toBe('spark/year={yyyy}/month={m}/day={d}/*.parquet');
    expect(job.features.partition_column).toBeUndefined();
    await predict('m_spark', '2026-09-05');
    await predict('m_spark');
    await expectTopK('m_spark', bruteForce());
    await expectNoPartition('m_spark', '2026-01-05', 'spark/year=2026/month=1/day=5/*.parquet');
  });

  it('other output shapes: [batch, 1, items], a TopK left in ascending order, one score per user ([batch])', async () => {
    const i64 = (name: string, values: bigint[]) => ({
      name,
      type: DataType.INT64,
      dims: [values.length],
      data: BigInt64Array.from(values),
    });
    writeOnnx(
      'rank3',
      [matmul, { op: 'Unsqueeze', inputs: ['scores', 'axis1'], outputs: ['scores3'] }],
      [input('N')],
      [{ name: 'scores3', type: DataType.FLOAT, shape: ['N', 1, I] }],
      [i64('axis1', [1n])],
    );
    // TopK, then both outputs reversed along the row (Slice with step -1): the worst of the top K first
    const reverse = (from: string, to: string): Node => ({
      op: 'Slice',
      inputs: [from, 'starts', 'ends', 'axis1', 'steps'],
      outputs: [to],
    });
    writeOnnx(
      'topk_ascending',
      [matmul, { op: 'TopK', inputs: ['scores', 'kk'], outputs: ['v', 'ix'] }, reverse('v', 'values'), reverse('ix', 'indices')],
      [input('N')],
      [
        { name: 'values', type: DataType.FLOAT, shape: ['N', K] },
        { name: 'indices', type: DataType.INT64, shape: ['N', K] },
      ],
      [i64('kk', [BigInt(K)]), i64('axis1', [1n]), i64('starts', [-1n]), i64('ends', [-(2n ** 62n)]), i64('steps', [-1n])],
    );
    for (const [name, want] of [
      ['rank3', bruteForce()],
      ['topk_ascending', bruteForce()],
    ] as const) {
      await init(`m_${name}`, name);
      await predict(`m_${name}`);
      await expectTopK(`m_${name}`, want);
    }
    // a scoring model: x . w, one probability-like score per user, "items" = the one thing scored
    const w = Float32Array.from(columns, (_, j) => Math.fround(0.5 - j / 4));
    writeOnnx(
      'churn',
      [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['churn_score'] }],
      [input('N')],
      [{ name: 'churn_score', type: DataType.FLOAT, shape: ['N'] }],
      [{ name: 'w', type: DataType.FLOAT, dims: [F], data: w }],
    );
    writeFileSync(path.join(root, 'churn.csv'), 'item_id\nchurn\n');
    await init('m_churn', 'churn', { items: 'churn.csv', flags: ['--columns', columns.join(','), '--k', '1'] });
    await predict('m_churn');
    const { rows } = await t.db.pool.query<{ user_id: string; item_id: string; score: number }>(
      'select user_id, item_id, score from batchcast.recommendations where job = $1 and prediction_date = $2',
      ['m_churn', date],
    );
    expect(rows.length).toBe(U);
    for (const r of rows) {
      const f = x[Number(r.user_id.slice(1))].map(Math.fround);
      expect(r.item_id).toBe('churn');
      expect(Math.abs(r.score - f.reduce((s, v, j) => s + v * w[j], 0))).toBeLessThan(1e-5);
    }
  });

  it('float16 scores fail the run with what to change, before anything is read', async () => {
    writeOnnx(
      'float16_out',
      [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['s'] },
        { op: 'Cast', inputs: ['s'], outputs: ['scores'], attributes: { to: { int: DataType.FLOAT16 } } },
      ],
      [input('N')],
      [scores('N', DataType.FLOAT16)],
    );
    await init('m_f16', 'float16_out', { flags: ['--columns', columns.join(','), '--output', 'scores'] });
    const run = await runCli(['predict', '--job', 'm_f16', '--date', date], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'output "scores" is float16; batchcast reads scores as float32 or float64: end the model with a Cast to float32',
    );
  });

  it('one input per feature column (Keras, skl2onnx): init maps them by name, in any order, [batch] or [batch, 1]', async () => {
    // the model takes d, b, a, c: the inputs' order is not the files'; "b" and "c" are [N], the others [N, 1]
    const order = ['d', 'b', 'a', 'c'];
    const rank1 = new Set(['b', 'c']);
    const axes = { name: 'axis1', type: DataType.INT64, dims: [1], data: BigInt64Array.from([1n]) };
    const nodes: Node[] = [
      ...order.filter((c) => rank1.has(c)).map((c) => ({ op: 'Unsqueeze', inputs: [c, 'axis1'], outputs: [`${c}_2d`] })),
      { op: 'Concat', inputs: columns.map((c) => (rank1.has(c) ? `${c}_2d` : c)), outputs: ['x'], attributes: { axis: { int: 1 } } },
      matmul,
    ];
    writeOnnx(
      'per_column',
      nodes,
      order.map((c) => ({ name: c, type: DataType.FLOAT, shape: rank1.has(c) ? ['N'] : ['N', 1] })),
      [scores('N')],
      [axes],
    );
    const scaffolded = await init('m_percol', 'per_column', { flags: ['--k', String(K)] });
    expect(scaffolded.stdout).toContain('one model input per column, matched by name');
    const job = JSON.parse(readFileSync(path.join(root, 'jobs', 'm_percol.json'), 'utf8'));
    expect(job.model.inputs).toEqual({ d: ['d'], b: ['b'], a: ['a'], c: ['c'] });
    expect(job.features.columns).toEqual(order);
    await predict('m_percol');
    await expectTopK('m_percol', bruteForce());
  });

  it('two inputs of two columns each: init asks, and model.inputs written by hand runs', async () => {
    writeOnnx(
      'two_inputs',
      [{ op: 'Concat', inputs: ['x1', 'x2'], outputs: ['x'], attributes: { axis: { int: 1 } } }, matmul],
      [
        { name: 'x1', type: DataType.FLOAT, shape: ['N', 2] },
        { name: 'x2', type: DataType.FLOAT, shape: ['N', 2] },
      ],
      [scores('N')],
    );
    const asked = await runCli(
      ['init', '--name', 'm_two', '--features', 'features/dt=*/*.parquet', '--model', 'models/two_inputs.onnx', '--items', 'items.csv'],
      env(),
    );
    expect(asked.code).toBe(2);
    expect(asked.stderr).toContain('the model has 2 inputs ("x1" float32 [N, 2], "x2" float32 [N, 2])');
    expect(asked.stderr).toContain('write model.inputs in the job');
    const job = {
      features: { path: 'features/dt=*/*.parquet', columns: ['c', 'a', 'b', 'd'], allow_extra_columns: true },
      model: { path: 'models/two_inputs.onnx', inputs: { x2: ['c', 'd'], x1: ['a', 'b'] }, output: { kind: 'scores', name: 'scores' } },
      items: { path: 'items.csv' },
      k: K,
    };
    writeFileSync(path.join(root, 'jobs', 'm_two.json'), JSON.stringify(job));
    await predict('m_two');
    await expectTopK('m_two', bruteForce());
    // a column fed to no input, and an input the job does not feed: named before anything runs
    writeFileSync(
      path.join(root, 'jobs', 'm_two.json'),
      JSON.stringify({ ...job, model: { ...job.model, inputs: { x1: ['a', 'b'], x2: ['c'] } } }),
    );
    const unused = await runCli(['predict', '--job', 'm_two', '--date', date], env());
    expect(unused.code).toBe(2);
    expect(unused.stderr).toContain('field "model.inputs" leaves column(s) "d" of features.columns to no input');
    writeFileSync(
      path.join(root, 'jobs', 'm_two.json'),
      JSON.stringify({ ...job, model: { ...job.model, inputs: { x1: ['a', 'b', 'c', 'd'] } } }),
    );
    const unfed = await runCli(['predict', '--job', 'm_two', '--date', date], env());
    expect(unfed.code).toBe(2);
    expect(unfed.stderr).toContain('takes input(s) "x2" that the job does not feed (inputs: x1, x2); fix model.inputs in the job');
  });

  it('online scoring of a job with one input per column answers what the batch published', async () => {
    const server = await startTestServer(t.url, root, {}, recordingLogger());
    try {
      const { rows } = await t.db.pool.query<{ user_id: string; item_ids: string[] }>(
        `select user_id, array_agg(item_id order by rank) as item_ids from batchcast.recommendations
          where job = 'm_percol' and prediction_date = $1 group by user_id`,
        [date],
      );
      const batch = new Map(rows.map((r) => [r.user_id, r.item_ids]));
      for (let u = 0; u < 40; u++) {
        const features = Object.fromEntries(columns.map((c, j) => [c, x[u][j]]));
        const a = await post(server.url, '/v1/jobs/m_percol/score', JSON.stringify({ user_id: `new-${u}`, features }));
        expect(a.status, a.body).toBe(200);
        expect(
          a.json.items.map((i: { item_id: string }) => i.item_id),
          `user u${u}`,
        ).toEqual(batch.get(`u${u}`));
      }
    } finally {
      await server.stop();
      closeAgent();
    }
  });
});
