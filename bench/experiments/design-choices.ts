// One-off comparisons behind the choices in src/ (results in bench/README.md). Run on a quiet machine:
//   node --import tsx bench/experiments/design-choices.ts copy      # binary vs text COPY, arrays vs one row per rank, index before/after
//   node --import tsx bench/experiments/design-choices.ts ort       # batch size, intra-op threads, spinning
//   node --import tsx bench/experiments/design-choices.ts e2e       # workers x threads, chunk rows, in-flight, COPY connections
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { rng } from '../../src/demo/random.ts';
import { COPY_HEADER, COPY_TRAILER, encodeRows } from '../../src/store/copy-binary.ts';
import { BENCH_DATE, ensureDataset, MODELS } from '../harness/datasets.ts';
import { sampleFeatures } from '../harness/stages.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/bench';
const print = (row: Record<string, unknown>) => console.log(JSON.stringify(row));

async function copyExperiment(rows = 1_000_000, k = 10) {
  const next = rng(3);
  const ids = Array.from({ length: rows }, (_, i) => String(i + 1));
  const values = Float32Array.from({ length: rows * k }, () => next() * 5);
  const indices = Int32Array.from({ length: rows * k }, () => Math.floor(next() * 10_000));
  const items = Array.from({ length: 10_000 }, (_, i) => `item-${i}`);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`set maintenance_work_mem = '256MB'`);
  const copy = async (sql: string, chunks: (Buffer | string)[]) => {
    const s = c.query(copyFrom(sql));
    const done = new Promise((res, rej) => {
      s.on('finish', res);
      s.on('error', rej);
    });
    for (const b of chunks) if (!s.write(b)) await new Promise((r) => s.once('drain', r));
    s.end();
    await done;
  };
  const time = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return Math.round(performance.now() - t);
  };
  const chunksOf = (make: (from: number, to: number) => Buffer | string) => {
    const out: (Buffer | string)[] = [];
    for (let i = 0; i < rows; i += 8192) out.push(make(i, Math.min(rows, i + 8192)));
    return out;
  };

  // 1. binary, array rows (what predict does)
  let t0 = performance.now();
  const binary = [
    COPY_HEADER,
    ...chunksOf((a, b) =>
      encodeRows({ ids: ids.slice(a, b), k, values: values.subarray(a * k, b * k), indices: indices.subarray(a * k, b * k) }),
    ),
    COPY_TRAILER,
  ];
  const encodeBinaryMs = Math.round(performance.now() - t0);
  // 2. text, array rows
  t0 = performance.now();
  const text = chunksOf((a, b) => {
    let s = '';
    for (let i = a; i < b; i++) {
      const it: string[] = [];
      const sc: string[] = [];
      for (let j = 0; j < k; j++) {
        it.push(String(indices[i * k + j]));
        sc.push(String(values[i * k + j]));
      }
      s += `${ids[i]}\t{${it.join(',')}}\t{${sc.join(',')}}\n`;
    }
    return s;
  });
  const encodeTextMs = Math.round(performance.now() - t0);
  // 3. text, one row per rank
  t0 = performance.now();
  const perRank = chunksOf((a, b) => {
    let s = '';
    for (let i = a; i < b; i++)
      for (let j = 0; j < k; j++) s += `${ids[i]}\t${j + 1}\t${items[indices[i * k + j]]}\t${values[i * k + j]}\n`;
    return s;
  });
  const encodePerRankMs = Math.round(performance.now() - t0);

  const arrays = 'run_id bigint not null default 0, user_id text collate "C" not null, item_idx int4[] not null, scores real[] not null';
  for (const [name, chunks, fmt, encodeMs] of [
    ['binary arrays', binary, 'binary', encodeBinaryMs],
    ['text arrays', text, 'text', encodeTextMs],
  ] as const) {
    await c.query(`drop table if exists exp_copy; create table exp_copy (${arrays})`);
    const copyMs = await time(() => copy(`copy exp_copy (user_id, item_idx, scores) from stdin with (format ${fmt})`, [...chunks]));
    const indexMs = await time(() => c.query('create unique index on exp_copy (run_id, user_id)'));
    await c.query(`drop table exp_copy; create table exp_copy (${arrays}); create unique index on exp_copy (run_id, user_id)`);
    const copyIndexedMs = await time(() => copy(`copy exp_copy (user_id, item_idx, scores) from stdin with (format ${fmt})`, [...chunks]));
    print({
      experiment: 'copy',
      layout: name,
      rows,
      encode_ms: encodeMs,
      copy_ms: copyMs,
      index_after_ms: indexMs,
      copy_into_indexed_ms: copyIndexedMs,
      copy_users_per_s: Math.round(rows / (copyMs / 1000)),
    });
  }
  await c.query(
    `drop table if exists exp_copy; create table exp_copy (run_id bigint not null default 0, user_id text collate "C" not null, rank int not null, item_id text not null, score real not null)`,
  );
  const copyMs = await time(() => copy('copy exp_copy (user_id, rank, item_id, score) from stdin', perRank));
  const indexMs = await time(() => c.query('create unique index on exp_copy (run_id, user_id, rank)'));
  print({
    experiment: 'copy',
    layout: 'text one row per rank',
    rows,
    encode_ms: encodePerRankMs,
    copy_ms: copyMs,
    index_after_ms: indexMs,
    copy_users_per_s: Math.round(rows / (copyMs / 1000)),
  });
  await c.query('drop table exp_copy');
  await c.end();
}

async function ortExperiment() {
  const ds = await ensureDataset(path.join(repo, 'data', 'bench'), MODELS.heavy, 1_000_000, () => {});
  const { features } = await sampleFeatures(ds, 100_000);
  const size = 32;
  for (const spinning of ['1', '0']) {
    for (const threads of [1, 2]) {
      const session = await ort.InferenceSession.create(ds.modelFile, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: spinning } } },
      });
      for (const batch of [64, 128, 256, 512, 1024, 4096]) {
        let done = 0;
        const t = performance.now();
        for (let start = 0; performance.now() - t < 3000; start = (start + batch) % (100_000 - batch)) {
          await session.run({
            features: new ort.Tensor('float32', features.subarray(start * size, (start + batch) * size), [batch, size]),
          });
          done += batch;
        }
        print({
          experiment: 'ort',
          model: 'heavy',
          spinning,
          threads,
          batch,
          users_per_s: Math.round(done / ((performance.now() - t) / 1000)),
        });
      }
      await session.release();
    }
  }
}

function predictOnce(env: Record<string, string>, job: string, root: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/time',
      [
        '-f',
        'rss_kb=%M',
        process.execPath,
        path.join(repo, 'bin', 'batchcast.js'),
        'predict',
        '--job',
        job,
        '--date',
        BENCH_DATE,
        '--json',
      ],
      { env: { ...process.env, DATABASE_URL: url, BATCHCAST_ROOT: root, ...env }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(stderr.slice(-2000)));
        const out = JSON.parse(stdout.trim().split('\n').pop()!);
        resolve({
          users_per_s: Math.round(out.usersPerSecond),
          seconds: Math.round(out.seconds * 10) / 10,
          rss_mb: Math.round(Number(/rss_kb=(\d+)/.exec(stderr)?.[1]) / 1024),
          timings: out.timings,
        });
      },
    );
  });
}

async function e2eExperiment(model: 'heavy' | 'light' = 'heavy', users = 1_000_000) {
  const ds = await ensureDataset(path.join(repo, 'data', 'bench'), MODELS[model], users, () => {});
  const variants: Record<string, string>[] = [
    {},
    { BATCHCAST_WORKERS: '2', BATCHCAST_THREADS: '1' },
    { BATCHCAST_WORKERS: '2', BATCHCAST_THREADS: '2' },
    { BATCHCAST_CHUNK_ROWS: '2048' },
    { BATCHCAST_CHUNK_ROWS: '32768' },
    { BATCHCAST_IN_FLIGHT: '2' },
    { BATCHCAST_IN_FLIGHT: '8' },
    { BATCHCAST_COPY_CONNECTIONS: '2' },
  ];
  const only = process.argv[4] ? (JSON.parse(process.argv[4]) as Record<string, string>[]) : variants;
  for (const env of only) print({ experiment: 'e2e', model, users, ...env, ...(await predictOnce(env, ds.job, ds.root)) });
}

const which = process.argv[2];
if (which === 'copy') await copyExperiment();
else if (which === 'ort') await ortExperiment();
else if (which === 'e2e') await e2eExperiment((process.argv[3] as 'heavy' | 'light') ?? 'heavy');
else console.error('usage: design-choices.ts copy|ort|e2e [heavy|light] [json variants]');
