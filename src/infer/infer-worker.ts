// One inference worker thread: holds its own ONNX Runtime session, and turns a chunk of features into
// encoded COPY rows. session.run blocks the thread it runs on (onnxruntime #19611), so real parallelism
// comes from intra-op threads and from several of these workers, never from promises on one session.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { encodeRows, type UserIds, userIdText } from '../store/copy-binary.ts';
import type { BadRow, Ranked, WorkerInit, WorkerReply, WorkerRequest } from './messages.ts';
import { type BoundInput, bindInputs, checkOutputs, feedsFor } from './model-io.ts';
import { rowWidth } from './shapes.ts';
import { topK } from './top-k.ts';

let session: ort.InferenceSession;
let init: WorkerInit;
/** items the model scores (indices 0..items-1): rows store indices, their ids are in batchcast.item_maps */
let items: number;
let itemCounts: Float64Array;
let inputs: BoundInput[];
/** the model's batch size when its exporter fixed it */
let fixedBatch: number | undefined;
/** values per user row of the scores (or top-K values) output */
let scoreWidth: number | undefined;
/** the outputs predict reads; the others (an embedding, a classifier's ZipMap) are not computed */
let fetches: string[];

function fail(id: number, err: unknown): WorkerReply {
  return { type: 'error', id, message: err instanceof Error ? err.message : String(err) };
}

async function start(msg: WorkerInit): Promise<WorkerReply> {
  init = msg;
  try {
    session = await ort.InferenceSession.create(msg.modelPath, {
      intraOpNumThreads: msg.intraOpThreads,
      interOpNumThreads: 1,
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      // Idle intra-op threads spinning for work would take CPU from DuckDB, the main thread and PostgreSQL.
      // Measured alone (heavy model, 2 threads, batch 256): 124.5k users/s without spinning, 120.7k with.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  } catch (err) {
    return fail(
      -1,
      `cannot load ONNX model ${msg.modelPath}: ${(err as Error).message.split('\n')[0]}; check the file is a complete .onnx model`,
    );
  }
  const model = `model ${msg.modelPath}`;
  const outputs = checkOutputs(session, msg.output);
  if (typeof outputs === 'string') return fail(-1, `${model} ${outputs}`);
  fetches = outputs;
  const bound = bindInputs(session, msg.inputs, msg.featureSize);
  if (typeof bound === 'string') return fail(-1, `${model} ${bound}`);
  ({ inputs, fixedBatch } = bound);
  items = msg.items;
  itemCounts = new Float64Array(items);
  // One probe batch checks the input width and the output shapes against the job and the items file.
  let probe: ort.InferenceSession.OnnxValueMapType;
  try {
    probe = await run(new Float32Array((fixedBatch ?? 1) * msg.featureSize), fixedBatch ?? 1, msg.featureSize);
  } catch (err) {
    const fed = inputs
      .map((i) => `"${i.name}" of shape [${fixedBatch ?? 'batch'}${i.rank === 2 ? `, ${i.columns?.length ?? msg.featureSize}` : ''}]`)
      .join(', ');
    return fail(-1, `${model} rejects input ${fed} (the job's ${msg.featureSize} features): ${(err as Error).message.split('\n')[0]}`);
  }
  if (msg.output.kind === 'scores') {
    const dims = probe[msg.output.name].dims;
    scoreWidth = rowWidth(dims.map(Number));
    if (scoreWidth !== items) {
      return fail(
        -1,
        `${model} output "${msg.output.name}" has shape [${dims.join(', ')}] per user row, but the items file has ${items} items; they must match`,
      );
    }
    if (items < msg.k) return fail(-1, `${model} scores ${items} items, fewer than the job's k ${msg.k}`);
  } else {
    const dims = probe[msg.output.values].dims;
    scoreWidth = rowWidth(dims.map(Number));
    if (scoreWidth === undefined || scoreWidth < msg.k) {
      return fail(
        -1,
        `${model} output "${msg.output.values}" has shape [${dims.join(', ')}], fewer than the job's k ${msg.k} per user; lower k or re-export the model`,
      );
    }
  }
  return { type: 'ready', id: -1, inputNames: session.inputNames, outputNames: session.outputNames, fixedBatch };
}

/** session.run on `n` rows of `x`, fetching only the outputs predict reads. */
function run(x: Float32Array, n: number, size: number): Promise<ort.InferenceSession.OnnxValueMapType> {
  return session.run(feedsFor(inputs, x, n, size), fetches);
}

/** Orders one row's k (value, index) pairs by value, descending, ties by lower index; already sorted: one pass. */
function sortRowDescending(values: Float32Array, indices: Int32Array, at: number, k: number): void {
  let sorted = true;
  for (let j = 1; j < k && sorted; j++)
    sorted = values[at + j - 1] > values[at + j] || (values[at + j - 1] === values[at + j] && indices[at + j - 1] <= indices[at + j]);
  if (sorted) return;
  const order = Array.from({ length: k }, (_, j) => at + j).sort((a, b) => values[b] - values[a] || indices[a] - indices[b]);
  const v = order.map((i) => values[i]);
  const ix = order.map((i) => indices[i]);
  values.set(v, at);
  indices.set(ix, at);
}

/** Output data as float32: a model may answer in float64; ranks and stored scores are float32 either way. */
function asFloat32(t: ort.Tensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
}

function badFeatureRows(features: Float32Array, rows: number, size: number, ids: UserIds): BadRow[] {
  const bad: BadRow[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * size;
    for (let c = 0; c < size; c++) {
      const x = features[base + c];
      if (x - x !== 0) {
        // NaN or +-Inf (x - x is NaN for both)
        bad.push({
          row: r,
          userId: userIdText(ids, r),
          reason: `feature ${init.featureNames[c] ?? `#${c}`} is ${Number.isNaN(x) ? 'NaN or NULL' : x}`,
        });
        break;
      }
    }
  }
  return bad;
}

/** The top K of each good row: the bad-row rules, session.run in batches, the model's TopK or ours, index checks. */
async function rank(ids: UserIds, features: Float32Array, rows: number): Promise<Ranked> {
  const size = init.featureSize;
  const k = init.k;
  const t0 = performance.now();
  const bad = badFeatureRows(features, rows, size, ids);
  let keep: number[] | undefined;
  let input = features;
  if (bad.length) {
    const badSet = new Set(bad.map((b) => b.row));
    keep = [];
    for (let r = 0; r < rows; r++) if (!badSet.has(r)) keep.push(r);
    input = new Float32Array(keep.length * size);
    keep.forEach((r, n) => input.set(features.subarray(r * size, (r + 1) * size), n * size));
  }
  const good = keep ? keep.length : rows;
  const values = new Float32Array(good * k);
  const indices = new Int32Array(good * k);
  const step = fixedBatch ?? init.batchSize;
  for (let start = 0; start < good; start += step) {
    const n = Math.min(step, good - start);
    let x = input.subarray(start * size, (start + n) * size);
    if (fixedBatch !== undefined && n < fixedBatch) {
      // the last batch of a fixed-size model, padded with zeros
      const padded = new Float32Array(fixedBatch * size);
      padded.set(x);
      x = padded;
    }
    const out = await run(x, fixedBatch ?? n, size);
    if (init.output.kind === 'scores') {
      const s = out[init.output.name];
      const top = topK(asFloat32(s), n, scoreWidth!, k);
      // A NaN anywhere in a row's scores means the model is broken for that user: mark the row's top K NaN
      // so the check below treats it like a NaN in the top K.
      for (const r of top.nanRows) top.values[r * k] = NaN;
      values.set(top.values, start * k);
      indices.set(top.indices, start * k);
    } else {
      const v = out[init.output.values];
      const ix = out[init.output.indices];
      const width = scoreWidth!;
      const vd = asFloat32(v);
      const id = ix.data as BigInt64Array | Int32Array;
      for (let r = 0; r < n; r++) {
        const at = (start + r) * k;
        for (let j = 0; j < k; j++) {
          values[at + j] = vd[r * width + j];
          indices[at + j] = Number(id[r * width + j]);
        }
        sortRowDescending(values, indices, at, k); // a TopK exported with sorted=0 leaves its rows in any order
      }
    }
  }
  const inferMs = performance.now() - t0;

  // Scores that came out NaN are never published; item indices must exist in the items file.
  const rowOf = (n: number) => (keep ? keep[n] : n);
  const nanBad: number[] = [];
  for (let n = 0; n < good; n++) {
    for (let j = 0; j < k; j++) {
      const s = values[n * k + j];
      const ix = indices[n * k + j];
      // biome-ignore lint/suspicious/noSelfCompare: NaN test in the per-score loop, cheaper than a Number.isNaN call
      if (s !== s) {
        nanBad.push(n);
        break;
      }
      if (ix < 0 || ix >= items) {
        throw new Error(
          `model returned item index ${ix} for user ${userIdText(ids, rowOf(n))}, but the items file has only ${items} items (indices 0..${items - 1}); the items file does not match the model`,
        );
      }
    }
  }
  if (!nanBad.length) return { bad, keep, values, indices, inferMs };
  const nanSet = new Set(nanBad);
  for (const n of nanBad) bad.push({ row: rowOf(n), userId: userIdText(ids, rowOf(n)), reason: 'model produced a NaN score' });
  const kept: number[] = [];
  for (let n = 0; n < good; n++) if (!nanSet.has(n)) kept.push(n);
  // re-pack values/indices to the surviving rows
  const v2 = new Float32Array(kept.length * k);
  const i2 = new Int32Array(kept.length * k);
  kept.forEach((n, m) => {
    v2.set(values.subarray(n * k, n * k + k), m * k);
    i2.set(indices.subarray(n * k, n * k + k), m * k);
  });
  return { bad, keep: kept.map(rowOf), values: v2, indices: i2, inferMs };
}

/** A chunk of a run: ranked, then encoded as COPY rows, and counted for the run's popular items. */
async function score(id: number, ids: UserIds, features: Float32Array, rows: number): Promise<WorkerReply> {
  const t0 = performance.now();
  const r = await rank(ids, features, rows);
  return finish(id, ids, r.keep, r.values, r.indices, r.bad, r.inferMs, t0);
}

function finish(
  id: number,
  ids: UserIds,
  keep: number[] | undefined,
  values: Float32Array,
  indices: Int32Array,
  bad: BadRow[],
  inferMs: number,
  t0: number,
): WorkerReply {
  const k = init.k;
  for (let i = 0; i < indices.length; i++) itemCounts[indices[i]]++;
  const buffer = encodeRows({ ids, idRows: keep, k, values, indices });
  return { type: 'scored', id, buffer, rows: values.length / k, bad, inferMs, encodeMs: performance.now() - t0 - inferMs };
}

// One request at a time: session.run blocks this thread anyway, and serving requests in order keeps each
// reply's inferMs/encodeMs its own (interleaved requests would count each other's time).
let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (msg: WorkerRequest) => {
  queue = queue.then(() => handle(msg));
});

async function handle(msg: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    if (msg.type === 'init') reply = await start(msg);
    else if (msg.type === 'score') reply = await score(msg.id, msg.ids, msg.features, msg.rows);
    else if (msg.type === 'rank') {
      // Online scoring: the same ranking as a run, answered as top-K arrays instead of COPY rows.
      reply = { type: 'ranked', id: msg.id, ...(await rank(msg.ids, msg.features, msg.rows)) };
    } else if (msg.type === 'counts') reply = { type: 'counts', id: msg.id, itemCounts };
    else {
      // Release the session here, on its own thread: terminating a worker inside ORT aborts the process.
      await session?.release();
      reply = { type: 'closed', id: msg.id };
      parentPort!.postMessage(reply);
      parentPort!.close();
      return;
    }
  } catch (err) {
    reply = fail(msg.type === 'init' ? -1 : msg.id, err);
  }
  const transfer =
    reply.type === 'scored'
      ? [reply.buffer.buffer as ArrayBuffer]
      : reply.type === 'ranked'
        ? [reply.values.buffer as ArrayBuffer, reply.indices.buffer as ArrayBuffer]
        : [];
  parentPort!.postMessage(reply, transfer);
}
