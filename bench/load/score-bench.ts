// Online scoring benchmark: POST /v1/jobs/{job}/score under wrk, paced at --rate requests/s
// (target: p99 <= 10 ms at 2k/s) and flat out; and the batched scoring throughput against ONNX Runtime
// alone on the same model (bench/harness/stages.ts ortAlone), both in process (ScoreBatcher -> InferPool, no HTTP)
// and through the API.
//   node --import tsx bench/load/score-bench.ts [--model heavy|light] [--rate 2000] [--duration 15] [--rounds 3]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test): serve needs a database for its pool and
// the published-model check; nothing is written there. Writes bench/results/score-<model>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../../src/db/embedded.ts';
import { buildTwoTowerModel, randomTwoTower } from '../../src/demo/build-model.ts';
import { rng } from '../../src/demo/random.ts';
import { InferPool } from '../../src/infer/infer-pool.ts';
import { loadJob } from '../../src/jobs/load-job.ts';
import { ScoreBatcher } from '../../src/serve/scoring/score-batcher.ts';
import { type Dataset, MODELS, type ModelSpec } from '../harness/datasets.ts';
import { ortAlone } from '../harness/stages.ts';
import { median, runOutput } from '../harness/util.ts';
import { CpuSampler, treeOf } from './lookup-cpu.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'heavy' },
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
  },
});
const spec: ModelSpec = MODELS[args.model as ModelSpec['name']];
if (!spec) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}`);
const rate = Number(args.rate);
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (m: string) => process.stderr.write(`${m}\n`);
/** Connections of the paced run: 40 x one request per ~20 ms = 2k/s. */
const PACED_CONNECTIONS = 40;
/** Users per chunk the API sends to a worker (src/serve/scoring/online-scoring.ts MAX_BATCH). */
const MAX_BATCH = 64;

/** A project root with the model, its items and two job files (batch_size 64, and 1 for ORT alone at batch 1). */
function makeRoot(): { root: string; ds: Dataset } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-score-bench-'));
  mkdirSync(path.join(root, 'jobs'));
  const modelFile = path.join(root, 'model.onnx');
  writeFileSync(
    modelFile,
    buildTwoTowerModel(randomTwoTower(spec, 20261120), { k: spec.k, output: spec.output, version: `bench-${spec.name}-v1` }),
  );
  writeFileSync(
    path.join(root, 'items.csv'),
    'idx,item_id\n' + Array.from({ length: spec.items }, (_, i) => `${i},item-${i}`).join('\n') + '\n',
  );
  for (const [name, batch] of [
    ['score', MAX_BATCH],
    ['score-b1', 1],
  ] as const) {
    writeFileSync(
      path.join(root, 'jobs', `${name}.json`),
      JSON.stringify({
        features: { path: 'unused/*.parquet', list_column: 'features', list_size: spec.inputSize },
        model: {
          path: 'model.onnx',
          version: `bench-${spec.name}-v1`,
          input: 'features',
          output:
            spec.output === 'top_k' ? { kind: 'top_k', values: 'top_scores', indices: 'top_indices' } : { kind: 'scores', name: 'scores' },
        },
        items: { path: 'items.csv', id_column: 'item_id', index_column: 'idx' },
        k: spec.k,
        batch_size: batch,
      }),
    );
  }
  return { root, ds: { root, job: 'score', users: 0, spec, modelFile, featuresDir: '' } };
}

/** ScoreBatcher -> InferPool in this process, one worker and two chunks in flight as serve runs it, `outstanding` requests kept waiting. */
/** Microseconds of CPU (user + system, all threads of this process) since `c0`. */
function cpuSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return d.user + d.system;
}

async function inProcess(
  root: string,
  sample: Float32Array,
  seconds: number,
  outstanding: number,
): Promise<{ users: number; users_per_s: number; mean_batch: number }> {
  const job = loadJob(path.join(root, 'jobs'), 'score', root);
  const itemIds = Array.from({ length: spec.items }, (_, i) => `item-${i}`);
  const pool = await InferPool.start(job, { workers: 1, intraOpThreads: 1, itemIds });
  let batches = 0;
  const batcher = new ScoreBatcher(pool, {
    size: spec.inputSize,
    k: spec.k,
    maxBatch: MAX_BATCH,
    maxDelayMs: 1,
    inFlight: 2,
    maxQueued: 1e6,
    onBatch: () => {
      batches++;
    },
  });
  const rows = sample.length / spec.inputSize;
  try {
    let done = 0;
    const until = performance.now() + seconds * 1000;
    const t0 = performance.now();
    const loop = async (i: number) => {
      for (let n = i; performance.now() < until; n += outstanding) {
        const r = n % rows;
        await batcher.score(`u${n}`, sample.slice(r * spec.inputSize, (r + 1) * spec.inputSize));
        done++;
      }
    };
    await Promise.all(Array.from({ length: outstanding }, (_, i) => loop(i)));
    return {
      users: done,
      users_per_s: Math.round(done / ((performance.now() - t0) / 1000)),
      mean_batch: Math.round((done / batches) * 10) / 10,
    };
  } finally {
    await pool.close();
  }
}

interface Round {
  paced_rps: number;
  paced_p50_ms: number;
  paced_p99_ms: number;
  paced_max_ms: number;
  paced_non_200: number;
  flat_rps: number;
  flat_p99_ms: number;
  flat_non_200: number;
  flat_api_cpu_us: number;
  flat_mean_batch: number;
  load: number;
}

interface Wrk {
  requests: number;
  non_200: number;
  errors: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  duration_us: number;
}

/** `delayMs` > 0: each connection pauses that long on average between requests (paced load). */
async function wrk(url: string, seconds: number, conns: number, delayMs: number): Promise<Wrk & { rps: number }> {
  const out = await runOutput('wrk', ['-t2', `-c${conns}`, `-d${seconds}s`, '--latency', '-s', path.join(here, 'score-post.lua'), url], {
    ...process.env,
    JOB: 'score',
    SIZE: String(spec.inputSize),
    DELAY_MS: String(delayMs),
  });
  const m = /RESULT (\{.*\})/.exec(out);
  if (!m) throw new Error(`no RESULT line in wrk output: ${out.slice(-1000)}`);
  const r = JSON.parse(m[1]) as Wrk;
  return { ...r, rps: Math.round(r.requests / (r.duration_us / 1e6)) };
}

async function batchHistogram(url: string): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    count: Number(/^batchcast_score_batch_users_count (\d+)/m.exec(text)?.[1] ?? 0),
    sum: Number(/^batchcast_score_batch_users_sum (\d+)/m.exec(text)?.[1] ?? 0),
  };
}

async function main(): Promise<void> {
  const { root, ds } = makeRoot();
  let server: ReturnType<typeof spawn> | undefined;
  try {
    const next = rng(3);
    const sample = Float32Array.from({ length: 4096 * spec.inputSize }, () => next() * 2 - 1);
    // ORT alone and the in-process batcher interleaved, 3 pairs: the ratio of each pair, then the median
    // (on a shared machine, numbers taken minutes apart are not comparable).
    // CPU time per user as well as rates: on a shared box the CPU a unit of work costs moves far less than
    // how fast it gets done (bench/README-lookup.md does the same for lookups).
    const pairs: { ort64: number; ort1: number; inproc: number; mean_batch: number; ort64_cpu_us: number; inproc_cpu_us: number }[] = [];
    for (let r = 0; r < 3; r++) {
      log(`${spec.name} model, pair ${r + 1}: ORT alone and in process (load average ${os.loadavg()[0].toFixed(1)})`);
      let c0 = process.cpuUsage();
      const ort64 = Math.round(await ortAlone(ds, sample, 1, 1, 4, 1));
      const ortCpu = cpuSince(c0) / (ort64 * 4); // users done ~ rate x seconds; includes the session's load
      c0 = process.cpuUsage();
      const inproc = await inProcess(root, sample, 4, 256);
      const inprocCpu = cpuSince(c0) / inproc.users;
      const ort1 = Math.round(await ortAlone({ ...ds, job: 'score-b1' }, sample, 1, 1, 2, 1));
      pairs.push({
        ort64,
        ort1,
        inproc: inproc.users_per_s,
        mean_batch: inproc.mean_batch,
        ort64_cpu_us: Math.round(ortCpu * 10) / 10,
        inproc_cpu_us: Math.round(inprocCpu * 10) / 10,
      });
      log(
        `  ORT alone batch 64: ${ort64} users/s (${ortCpu.toFixed(1)} us CPU/user), batch 1: ${ort1}; in process: ${inproc.users_per_s} users/s (${inprocCpu.toFixed(1)} us CPU/user, mean batch ${inproc.mean_batch})`,
      );
    }

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    server = spawn(
      process.execPath,
      [
        path.join(repo, 'bin', 'batchcast.js'),
        'serve',
        '--port',
        String(port),
        '--database-url',
        databaseUrl,
        '--log-level',
        'warn',
        '--json',
      ],
      { env: { ...process.env, BATCHCAST_ROOT: root }, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 150) throw new Error('serve did not start within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await wrk(url, 3, 8, 0); // warm-up: starts the job's scorer, JIT
    // Paced load: PACED_CONNECTIONS connections, each pausing between requests. Each connection's period is
    // its pause plus the answer's latency, so the pause is calibrated on a short run to offer ~rate requests/s.
    const target = (PACED_CONNECTIONS / rate) * 1000;
    const probe = await wrk(url, 3, PACED_CONNECTIONS, target);
    // Clamped: on a busy box the probe can be far off, and a pause under half the target would flood.
    const delayMs = Math.min(target, Math.max(target / 2, target - ((PACED_CONNECTIONS / probe.rps) * 1000 - target)));
    log(`paced: ${probe.rps} requests/s with ${target.toFixed(1)} ms pauses; using ${delayMs.toFixed(1)} ms`);
    const perRound: Round[] = [];
    for (let r = 1; r <= rounds; r++) {
      const paced = await wrk(url, duration, PACED_CONNECTIONS, delayMs);
      const before = await batchHistogram(url);
      const cpu = new CpuSampler(treeOf(server.pid!)).start();
      const flat = await wrk(url, duration, connections, 0);
      const apiCpuUs = (cpu.stop() * 1000) / Math.max(1, flat.requests);
      const after = await batchHistogram(url);
      const round = {
        paced_rps: paced.rps,
        paced_p50_ms: paced.p50_us / 1000,
        paced_p99_ms: paced.p99_us / 1000,
        paced_max_ms: paced.max_us / 1000,
        paced_non_200: paced.non_200 + paced.errors,
        flat_rps: flat.rps,
        flat_p99_ms: flat.p99_us / 1000,
        flat_non_200: flat.non_200 + flat.errors,
        flat_api_cpu_us: Math.round(apiCpuUs),
        flat_mean_batch: Math.round(((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 10) / 10,
        load: Math.round(os.loadavg()[0] * 10) / 10,
      };
      perRound.push(round);
      log(`round ${r}: ${JSON.stringify(round)}`);
    }
    const med = (f: (x: Round) => number) => median(perRound.map(f));
    const result = {
      model: spec.name,
      rate_target: rate,
      paced_rps: med((x) => x.paced_rps),
      paced_p99_ms: med((x) => x.paced_p99_ms),
      paced_p50_ms: med((x) => x.paced_p50_ms),
      flat_rps: med((x) => x.flat_rps),
      flat_mean_batch: med((x) => x.flat_mean_batch),
      ort_alone_batch64_users_per_s: median(pairs.map((p) => p.ort64)),
      ort_alone_batch1_users_per_s: median(pairs.map((p) => p.ort1)),
      in_process_users_per_s: median(pairs.map((p) => p.inproc)),
      in_process_mean_batch: median(pairs.map((p) => p.mean_batch)),
      in_process_over_ort: Math.round(median(pairs.map((p) => p.inproc / p.ort64)) * 100) / 100,
      api_flat_over_ort: Math.round((med((x) => x.flat_rps) / median(pairs.map((p) => p.ort64))) * 100) / 100,
      // The same fractions from CPU cost per user: ORT alone's CPU per user over the path's.
      ort64_cpu_us_per_user: median(pairs.map((p) => p.ort64_cpu_us)),
      in_process_cpu_us_per_user: median(pairs.map((p) => p.inproc_cpu_us)),
      api_cpu_us_per_request: med((x) => x.flat_api_cpu_us),
      in_process_over_ort_by_cpu: Math.round(median(pairs.map((p) => p.ort64_cpu_us / p.inproc_cpu_us)) * 100) / 100,
      api_over_ort_by_cpu: Math.round((median(pairs.map((p) => p.ort64_cpu_us)) / med((x) => x.flat_api_cpu_us)) * 100) / 100,
      pairs,
      rounds: perRound,
      load_at_start: os.loadavg(),
      at: new Date().toISOString(),
    };
    mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(repo, 'bench', 'results', `score-${spec.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    const { rounds: _, ...summary } = result;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    server?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
