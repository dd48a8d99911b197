// One thread of the ORT-alone measurement: its own session per model file, session.run in a loop for
// `seconds`. With several model files it runs them in turn, batch by batch, and times each one's runs: the
// models then share the same moments of a busy machine, and their ratio is fair. See stages.ts ortAlone().
// Plain JavaScript so it needs no loader.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { modelFiles, input, threads, features, size, batch, seconds } = workerData;
const sessions = [];
for (const file of modelFiles) {
  sessions.push(
    await ort.InferenceSession.create(file, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    }),
  );
}
const rows = features.length / size;
const run = (session, start) =>
  session.run({ [input]: new ort.Tensor('float32', features.subarray(start * size, (start + batch) * size), [batch, size]) });
for (const s of sessions) await run(s, 0);
const done = sessions.map(() => 0);
const ms = sessions.map(() => 0);
const t = performance.now();
for (let start = 0; performance.now() - t < seconds * 1000; start = (start + batch) % (rows - batch)) {
  for (const [i, s] of sessions.entries()) {
    const t0 = performance.now();
    await run(s, start);
    ms[i] += performance.now() - t0;
    done[i] += batch;
  }
}
parentPort.postMessage({ rows: done, ms });
for (const s of sessions) await s.release();
