// The key case of a first week: a model trained on the features in the reverse of the export's column order
// (f05..f00 against the files' f00..f05), with no names in its metadata. init must not offer the files'
// order; examples (rows with the outputs the training code computed) settle the order at init, and a job
// with the wrong order fails --dry-run and predict naming both orders. A model card beside the model binds
// the order too. Real ONNX Runtime, DuckDB and PostgreSQL, through the CLI.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, writeModel } from '../src/demo/onnx-writer.ts';
import { generaliseFeaturesPath } from '../src/init/generalise-glob.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';
import { closeAgent, post, recordingLogger, startTestServer } from './serve-helpers.ts';

const fileOrder = ['f00', 'f01', 'f02', 'f03', 'f04', 'f05'];
const modelOrder = [...fileOrder].reverse();
const F = fileOrder.length;
const I = 12;
const U = 60;
const K = 4;
const dates = ['2026-11-19', '2026-11-20'];
const W = new Float32Array(F * I).map((_, i) => Math.fround(Math.sin(i * 1.3 + 0.4)));
/** a user's features by column name, per date */
const value = (date: number, u: number, c: number) => Math.cos((u + 1) * (c + 1) * 0.7 + date);

const graph = {
  name: 'reversed',
  nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['scores'] }],
  inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['batch', F] }],
  outputs: [{ name: 'scores', type: DataType.FLOAT, shape: ['batch', I] }],
  initializers: [{ name: 'W', type: DataType.FLOAT, dims: [F, I], data: W }],
};

let t: TestDb;
let root: string;

/** x . W in float32 arithmetic, x in the model's order: what the training code would compute. */
function scoresOf(byName: Record<string, number>): number[] {
  const x = modelOrder.map((c) => Math.fround(byName[c]));
  return Array.from({ length: I }, (_, i) => x.reduce((acc, v, j) => acc + v * W[j * I + i], 0));
}
const rowOf = (date: number, u: number) => Object.fromEntries(fileOrder.map((c, j) => [c, value(date, u, j)]));
// keys in the files' order, as a dict of the export's row would have them
const examples = [3, 17, 42].map((u) => ({ inputs: rowOf(0, u), outputs: { scores: scoresOf(rowOf(0, u)) } }));

beforeAll(async () => {
  t = await createTestDb('init_examples');
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-init-examples-'));
  for (const [d, date] of dates.entries()) {
    const dir = path.join(root, 'exports', 'features', `snapshot_date=${date}`);
    mkdirSync(dir, { recursive: true });
    parquetWriteFile({
      filename: path.join(dir, 'part-0.parquet'),
      columnData: [
        { name: 'user_id', data: Array.from({ length: U }, (_, u) => `u${u}`), type: 'STRING' },
        ...fileOrder.map((c, j) => ({ name: c, data: Array.from({ length: U }, (_, u) => value(d, u, j)), type: 'DOUBLE' as const })),
      ],
    });
  }
  writeFileSync(path.join(root, 'items.csv'), `item_id\n${Array.from({ length: I }, (_, i) => `it${i}`).join('\n')}\n`);
  mkdirSync(path.join(root, 'models'));
  writeFileSync(path.join(root, 'models', 'reversed.onnx'), writeModel(graph, { producer: 'pytorch', version: '2.5' }));
  writeFileSync(path.join(root, 'examples.json'), JSON.stringify(examples, null, 2));
});
afterAll(async () => {
  await t?.drop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: root });
const init = (name: string, ...flags: string[]) =>
  runCli(
    [
      'init',
      '--name',
      name,
      '--features',
      'exports/features/snapshot_date=*/*.parquet',
      '--model',
      'models/reversed.onnx',
      '--items',
      'items.csv',
      '--k',
      String(K),
      ...flags,
    ],
    env(),
  );
const jobFile = (name: string) => path.join(root, 'jobs', `${name}.json`);
const bothOrders = `match the column order ${modelOrder.join(',')}, not the job's ${fileOrder.join(',')}`;

describe('init binds the feature order to the model, and examples check it', () => {
  it('without an order it can know, init says what to find and where, and suggests no list', async () => {
    const r = await init('nothing');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pass --columns');
    expect(r.stderr).toContain('training code');
    expect(r.stderr).toContain('metadata_props');
    expect(r.stderr).toContain('reversed.card.json');
    expect(r.stderr).toContain('--examples');
    // no order offered: neither the files' (which published wrong answers) nor any other
    expect(r.stderr).not.toMatch(/f0\d, ?f0\d/);
    expect(r.stderr).not.toMatch(/--columns f0/);
    expect(existsSync(jobFile('nothing'))).toBe(false);
  });

  it("wrong --columns with examples fails at init, naming the examples' order and the job's", async () => {
    const r = await init('wrong', '--columns', fileOrder.join(','), '--examples', 'examples.json');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bothOrders);
    // the job file is not written yet: the fix is the flag
    expect(r.stderr).toContain("pass --columns in the model's order");
    expect(r.stderr).not.toContain('set features.columns in');
    expect(existsSync(jobFile('wrong'))).toBe(false);
  });

  it('examples no order reproduces: init says they were tried and with which orders, not to add --examples', async () => {
    writeFileSync(
      path.join(root, 'alien.json'),
      JSON.stringify(examples.map((e) => ({ ...e, outputs: { scores: e.outputs.scores.map((v) => v + 1) } }))),
    );
    const r = await init('alien', '--examples', 'alien.json');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the examples (--examples) were tried with their own key order, the files' order and its reverse");
    expect(r.stderr).not.toContain("Neither the model's metadata nor a model card");
    // bad JSON in the examples file: a line and column, the trailing comma named
    writeFileSync(path.join(root, 'comma.json'), '[\n  {"inputs": {"f00": 1},\n  }\n]\n');
    const bad = await init('comma', '--examples', 'comma.json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not valid JSON: line 3, column 3: .*a trailing comma: JSON allows none; remove it/);
  });

  it('examples alone settle the order; they go into the job, and the dry run and predict check them', async () => {
    const r = await init('right', '--examples', 'examples.json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("feature order: the examples' outputs are reproduced with it");
    expect(r.stdout).toContain('examples: 3 reproduced by the model with this column order (output scores;');
    const job = JSON.parse(readFileSync(jobFile('right'), 'utf8'));
    expect(job.features.columns).toEqual(modelOrder);
    expect(job.model.examples).toHaveLength(3);

    const dry = await runCli(['predict', '--job', 'right', '--date', dates[1], '--dry-run'], env());
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('examples   3 reproduced (output scores; floats within 1e-5 + 1e-4 x |expected|');

    const run = await runCli(['predict', '--job', 'right', '--date', dates[1], '--json'], env());
    expect(run.code, run.stderr).toBe(0);
    const { rows } = await t.db.pool.query<{ user_id: string; item_id: string }>(
      'select user_id, item_id from batchcast.recommendations where job = $1 and prediction_date = $2 and rank = 1',
      ['right', dates[1]],
    );
    expect(rows).toHaveLength(U);
    for (const r of rows) {
      const s = scoresOf(rowOf(1, Number(r.user_id.slice(1))));
      expect(r.item_id, `user ${r.user_id}`).toBe(`it${s.indexOf(Math.max(...s))}`);
    }
  });

  it('a job whose order disagrees with its examples fails --dry-run and predict, naming both orders; nothing is published', async () => {
    const job = JSON.parse(readFileSync(jobFile('right'), 'utf8'));
    job.features.columns = fileOrder; // as if --columns had been copied from the files
    writeFileSync(jobFile('edited'), JSON.stringify(job, null, 2));
    const dry = await runCli(['predict', '--job', 'edited', '--date', dates[1], '--dry-run'], env());
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain(`job edited: the model's outputs on the job's 3 example(s) ${bothOrders}`);
    expect(dry.stderr).toContain('set features.columns in');

    const run = await runCli(['predict', '--job', 'edited', '--date', dates[1]], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(bothOrders);
    const { rows } = await t.db.pool.query(
      `select r.status, p.run_id from batchcast.runs r left join batchcast.published p on p.job = r.job where r.job = 'edited'`,
    );
    expect(rows).toEqual([{ status: 'failed', run_id: null }]);
  });

  it('online scoring runs the examples too: a job with the wrong order answers 503 naming both orders, and logs it', async () => {
    const logged = recordingLogger();
    const server = await startTestServer(t.url, root, {}, logged, { insecureNoAuth: true });
    try {
      const body = JSON.stringify({ user_id: 'u3', features: rowOf(0, 3) });
      const right = await post(server.url, '/v1/jobs/right/score', body);
      expect(right.status, right.body).toBe(200);
      const wrong = await post(server.url, '/v1/jobs/edited/score', body);
      expect(wrong.status, wrong.body).toBe(503);
      const answer = wrong.json as { error: string; message: string };
      expect(answer.error).toBe('examples_mismatch');
      expect(answer.message).toContain(`job edited cannot score`);
      expect(answer.message).toContain(`column order ${modelOrder.join(',')}, not the job's ${fileOrder.join(',')}`);
      expect(answer.message).not.toContain(root);
      expect(logged.lines.some((l) => l.level === 'error' && l.msg.includes(`online scoring for job edited refuses to start`))).toBe(true);
    } finally {
      await server.stop();
      closeAgent();
    }
  });

  it('examples no order reproduces fail with the value that differs and the tolerance', async () => {
    const job = JSON.parse(readFileSync(jobFile('right'), 'utf8'));
    job.model.examples[1].outputs.scores[2] += 0.01;
    writeFileSync(jobFile('off'), JSON.stringify(job, null, 2));
    const dry = await runCli(['predict', '--job', 'off', '--date', dates[1], '--dry-run'], env());
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain('the model does not reproduce example 2 of 3: output "scores"[2]');
    expect(dry.stderr).toContain('floats within 1e-5 + 1e-4 x |expected|');
  });

  it('examples off by 5e-4 relative no longer pass (rtol 1e-4)', async () => {
    const job = JSON.parse(readFileSync(jobFile('right'), 'utf8'));
    job.model.examples[0].outputs.scores = job.model.examples[0].outputs.scores.map((v: number) => v * (1 + 5e-4));
    writeFileSync(jobFile('loose'), JSON.stringify(job, null, 2));
    const dry = await runCli(['predict', '--job', 'loose', '--date', dates[1], '--dry-run'], env());
    expect(dry.code, dry.stdout).toBe(2);
    expect(dry.stderr).toContain('the model does not reproduce example 1 of 3');
  });

  it('examples that cannot tell two neighbouring columns apart: init says so (exit 2), or notes it when --columns gave the order', async () => {
    // one row with f02 == f03: swapping them changes nothing the examples can see
    const row = { ...rowOf(0, 5), f02: rowOf(0, 5).f03 };
    writeFileSync(path.join(root, 'tied.json'), JSON.stringify([{ inputs: row, outputs: { scores: scoresOf(row) } }]));
    const chosen = await init('tied', '--examples', 'tied.json');
    expect(chosen.code, chosen.stdout).toBe(2);
    expect(chosen.stderr).toContain('the examples are reproduced just as well with f03 and f02 swapped');
    expect(chosen.stderr).toContain('cannot tell those orders apart');
    expect(existsSync(jobFile('tied'))).toBe(false);

    const given = await init('tied_given', '--columns', modelOrder.join(','), '--examples', 'tied.json');
    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).toContain('examples: the examples are reproduced just as well with f03 and f02 swapped');
    const dry = await runCli(['predict', '--job', 'tied_given', '--date', dates[1], '--dry-run'], env());
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('note       the examples are reproduced just as well with f03 and f02 swapped');
  });

  it('a model card beside the model gives the order, and the job names the card', async () => {
    copyFileSync(path.join(root, 'models', 'reversed.onnx'), path.join(root, 'models', 'carded.onnx'));
    writeFileSync(path.join(root, 'models', 'carded.card.json'), JSON.stringify({ version: 'carded-1', feature_order: modelOrder }));
    const r = await runCli(
      [
        'init',
        '--name',
        'carded',
        '--features',
        'exports/features/snapshot_date=*/*.parquet',
        '--model',
        'models/carded.onnx',
        '--items',
        'items.csv',
      ],
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('feature order: from the model card models/carded.card.json (feature_order)');
    expect(r.stdout).toContain('examples: none, so nothing checks the column order');
    const job = JSON.parse(readFileSync(jobFile('carded'), 'utf8'));
    expect(job.features.columns).toEqual(modelOrder);
    expect(job.model.card).toBe('models/carded.card.json');

    // a retrain ships a card with another order (and a new version): every run checks it, not only init
    writeFileSync(path.join(root, 'models', 'carded.card.json'), JSON.stringify({ version: 'carded-2', feature_order: fileOrder }));
    const dry = await runCli(['predict', '--job', 'carded', '--date', dates[1], '--dry-run'], env());
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain(
      `models/carded.card.json (feature_order) gives the feature order ${fileOrder.join(',')}, but features.columns is ${modelOrder.join(',')}`,
    );
  });

  it("a model whose metadata_props name its features in another order than the job's fails --dry-run, naming both", async () => {
    writeFileSync(
      path.join(root, 'models', 'named.onnx'),
      writeModel(graph, { producer: 'pytorch', version: '2.5', metadata: { feature_names: JSON.stringify(fileOrder) } }),
    );
    const job = JSON.parse(readFileSync(jobFile('right'), 'utf8'));
    job.model.path = 'models/named.onnx';
    writeFileSync(jobFile('named'), JSON.stringify(job, null, 2));
    const dry = await runCli(['predict', '--job', 'named', '--date', dates[1], '--dry-run'], env());
    expect(dry.code).toBe(2);
    expect(dry.stderr).toContain(
      `models/named.onnx (its metadata_props) gives the feature order ${fileOrder.join(',')}, but features.columns is ${modelOrder.join(',')}`,
    );
  });
});

describe('init and globs the shell expanded', () => {
  it('a path naming one date is generalised back to the pattern, and init says so', async () => {
    const r = await init(
      'one_day',
      '--features',
      `exports/features/snapshot_date=${dates[0]}/part-0.parquet`,
      '--examples',
      'examples.json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('is one file of one date: the shell expanded an unquoted glob? (snapshot_date=2026-11-19)');
    expect(r.stdout).toContain('2 date(s) 2026-11-19 .. 2026-11-20');
    const job = JSON.parse(readFileSync(jobFile('one_day'), 'utf8'));
    expect(job.features.path).toBe('exports/features/snapshot_date=*/*.parquet');
    expect(job.features.partition_column).toBe('snapshot_date');
  });

  it('generalises a folder, a nested file and a glob pinned to one date; keeps paths without one dated folder', () => {
    const g = (p: string) => generaliseFeaturesPath(p).pattern;
    expect(g('x/dt=2026-11-20')).toBe('x/dt=*/*.parquet');
    expect(g('x/ds=20261120/country=DE/part-1.snappy.parquet')).toBe('x/ds=*/country=DE/*.parquet');
    expect(g('x/dt=2026-11-20/part-*.parquet')).toBe('x/dt=*/part-*.parquet');
    expect(generaliseFeaturesPath('x/dt=2026-11-20/part-*.parquet').note).toContain('a glob pinned to one date');
    for (const kept of [
      'x/dt=*/*.parquet',
      'x/year=*/month=*/day=*/*.parquet',
      'x/features.parquet',
      'x/a=2026-01-01/b=2026-01-02/f.parquet',
    ])
      expect(generaliseFeaturesPath(kept)).toEqual({ pattern: kept, note: undefined });
  });

  it('several paths give "quote the glob" (exit 2), not the help text', async () => {
    const files = dates.map((d) => `exports/features/snapshot_date=${d}/part-0.parquet`);
    const r = await runCli(
      ['init', '--name', 'many', '--features', ...files, '--model', 'models/reversed.onnx', '--items', 'items.csv'],
      env(),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "Quote the glob so that init sees the pattern, e.g. --features 'exports/features/snapshot_date=*/*.parquet'",
    );
    expect(r.stderr).not.toContain('too many arguments');
    expect(r.stderr).not.toContain('Usage:');
  });
});
