// Each stage of a run measured alone, on the same partition, model and settings as the end-to-end run:
// the DuckDB scan, ONNX Runtime inference, and PostgreSQL COPY of output rows.
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { rng } from '../../src/demo/random.ts';
import { type JobDefinition, loadJob } from '../../src/jobs/load-job.ts';
import { withDuckDB } from '../../src/read/duckdb.ts';
import { findPartitionFiles, readFeatures } from '../../src/read/read-features.ts';
import { COPY_HEADER, COPY_TRAILER, encodeRows, userIdText } from '../../src/store/copy-binary.ts';
import { BENCH_DATE, type Dataset } from './datasets.ts';

export function benchJob(ds: Dataset): JobDefinition {
  return loadJob(`${ds.root}/jobs`, ds.job, ds.root);
}

/** The scan alone: DuckDB (1 thread, as in predict) -> Float32Array chunks, nothing else. */
export async function scanAlone(ds: Dataset, chunkRows: number): Promise<number> {
  const job = benchJob(ds);
  return withDuckDB({ threads: 1 }, async (conn) => {
    const files = await findPartitionFiles(conn, job, BENCH_DATE);
    const t = performance.now();
    let rows = 0;
    for await (const c of readFeatures(conn, job, files, chunkRows, 'int')) rows += c.rows;
    return rows / ((performance.now() - t) / 1000);
  });
}

/** A sample of the partition, held in memory, for the stages that must not include the scan. */
export async function sampleFeatures(ds: Dataset, rows: number): Promise<{ ids: string[]; features: Float32Array }> {
  const job = benchJob(ds);
  return withDuckDB({ threads: 1 }, async (conn) => {
    const files = await findPartitionFiles(conn, job, BENCH_DATE);
    const ids: string[] = [];
    const features = new Float32Array(rows * job.features.size);
    let n = 0;
    for await (const c of readFeatures(conn, job, files, 8192, 'int')) {
      const take = Math.min(c.rows, rows - n);
      features.set(c.features.subarray(0, take * job.features.size), n * job.features.size);
      for (let i = 0; i < take; i++) ids.push(userIdText(c.ids, i));
      n += take;
      if (n >= rows) break;
    }
    return { ids, features: features.subarray(0, n * job.features.size) };
  });
}

/**
 * ONNX Runtime alone, in the same shape as predict: `workers` threads, each with its own session of
 * `threads` intra-op threads, session.run on the in-memory sample in batches of batch_size, all at once.
 * Best of `repeats` (this machine is noisy): the ratio e2e / ORT-alone is then a conservative one.
 */
export async function ortAlone(
  ds: Dataset,
  sample: Float32Array,
  workers: number,
  threads: number,
  seconds = 4,
  repeats = 3,
): Promise<number> {
  let best = 0;
  for (let r = 0; r < repeats; r++) best = Math.max(best, (await ortAloneTurns([ds], sample, workers, threads, seconds))[0]);
  return best;
}

/**
 * ORT alone for several models (same job shape) at once: each worker runs them in turn, batch by batch, and
 * each model's users/s counts only its own session.run time. Returns users/s per model, summed over workers.
 */
export async function ortAloneTurns(
  sets: Dataset[],
  sample: Float32Array,
  workers: number,
  threads: number,
  seconds: number,
): Promise<number[]> {
  const job = benchJob(sets[0]);
  const results = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<{ rows: number[]; ms: number[] }>((resolve, reject) => {
          const w = new Worker(new URL('./ort-alone-worker.mjs', import.meta.url), {
            workerData: {
              modelFiles: sets.map((ds) => ds.modelFile),
              input: job.model.inputs[0].name,
              threads,
              features: sample,
              size: job.features.size,
              batch: job.batchSize,
              seconds,
            },
          });
          // Let the worker end by itself: terminate() during session.release() aborts the process (Napi::Error).
          let result: { rows: number[]; ms: number[] } | undefined;
          w.once('message', (m) => {
            result = m;
          });
          w.once('error', reject);
          w.once('exit', () => (result ? resolve(result) : reject(new Error('ORT-alone worker exited without a result'))));
        }),
    ),
  );
  return sets.map((_, i) => results.reduce((a, x) => a + x.rows[i] / (x.ms[i] / 1000), 0));
}

/** COPY alone: the same row shape (user id, k item indices, k scores), pre-encoded, into a fresh table. */
export async function copyAlone(url: string, ds: Dataset, ids: string[], totalRows: number): Promise<number> {
  const job = benchJob(ds);
  const k = job.k;
  const next = rng(5);
  const buffers: Buffer[] = [];
  for (let start = 0; start < ids.length; start += 8192) {
    const part = ids.slice(start, start + 8192);
    const values = Float32Array.from({ length: part.length * k }, () => next() * 5);
    const indices = Int32Array.from({ length: part.length * k }, () => Math.floor(next() * ds.spec.items));
    buffers.push(encodeRows({ ids: part, k, values, indices }));
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('drop table if exists public.bench_copy_alone');
    await client.query(
      'create table public.bench_copy_alone (run_id bigint not null default 0, user_id text collate "C" not null, item_idx int4[] not null, scores real[] not null)',
    );
    const t = performance.now();
    const stream = client.query(copyFrom('copy public.bench_copy_alone (user_id, item_idx, scores) from stdin with (format binary)'));
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    stream.write(COPY_HEADER);
    let written = 0;
    for (let i = 0; written < totalRows; i = (i + 1) % buffers.length) {
      if (!stream.write(buffers[i])) await new Promise((r) => stream.once('drain', r));
      written += Math.min(8192, ids.length - i * 8192);
    }
    stream.end(COPY_TRAILER);
    await done;
    const perS = written / ((performance.now() - t) / 1000);
    await client.query('drop table public.bench_copy_alone');
    return perS;
  } finally {
    await client.end();
  }
}
