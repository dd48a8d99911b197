// One thread of the ORT-alone measurement: its own session, session.run in a loop for `seconds`.
// Plain JavaScript so it needs no loader; see stages.ts ortAlone().
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { modelFile, input, threads, features, size, batch, seconds } = workerData;
const session = await ort.InferenceSession.create(modelFile, {
  intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '0' } } },
});
const rows = features.length / size;
const run = (start) => session.run({ [input]: new ort.Tensor('float32', features.subarray(start * size, (start + batch) * size), [batch, size]) });
await run(0);
let done = 0;
const t = performance.now();
for (let start = 0; performance.now() - t < seconds * 1000; start = (start + batch) % (rows - batch)) {
  await run(start);
  done += batch;
}
parentPort.postMessage({ rows: done, ms: performance.now() - t });
await session.release();
