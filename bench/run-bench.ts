// `npm run bench`: generates data at each size, measures each stage alone and the end-to-end predict on the
// same data in one run, and writes bench/results/latest.{json,md} and chart.svg. Not part of `npm test`.
//   npm run bench -- --sizes 100000,1000000,10000000 --models heavy,light
//   npm run bench -- --quick            (1M users, heavy model)
//   npm run bench -- --variants fp32,int8,fp16 --sizes 1000000   (compressed models against fp32: variants.ts)
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';
import { MODELS, ensureDataset, type ModelSpec } from './datasets.ts';
import { copyAlone, ortAlone, sampleFeatures, scanAlone } from './stages.ts';
import { writeReport, type BenchEntry, type BenchResults } from './report.ts';
import { endToEnd, run } from './end-to-end.ts';
import { measureVariants, writeVariantReport } from './variants.ts';
import { PRECISIONS, type Precision } from '../src/demo/build-model.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    models: { type: 'string', default: 'heavy,light' },
    quick: { type: 'boolean', default: false },
    'skip-lookup': { type: 'boolean', default: false },
    variants: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string', default: path.join(repo, 'bench', 'results') },
  },
});

async function measure(spec: ModelSpec, users: number, url: string, benchDir: string): Promise<BenchEntry> {
  const config = loadConfig({}, process.env);
  const ds = await ensureDataset(benchDir, spec, users, log);
  log(`${ds.job}: scan alone`);
  const scan = await scanAlone(ds, config.chunkRows);
  const sample = await sampleFeatures(ds, Math.min(users, 200_000));
  log(`${ds.job}: ORT alone (${config.workers} x ${config.intraOpThreads} threads, batch ${spec.batchSize})`);
  const ortPerS = await ortAlone(ds, sample.features, config.workers, config.intraOpThreads);
  // the brief's reference shape: one session with 2 intra-op threads
  const ortOneSession = await ortAlone(ds, sample.features, 1, config.workers * config.intraOpThreads);
  log(`${ds.job}: COPY alone`);
  const copyPerS = await copyAlone(url, ds, sample.ids, Math.min(users, 3_000_000));
  log(`${ds.job}: end to end`);
  const e2e = await endToEnd(ds, url);
  // The guardrails' cost (issue 9) on a rerun of the date: it has a reference, so every part runs.
  log(`${ds.job}: end to end again (a rerun: profile + comparison with the first run)`);
  const rerun = await endToEnd(ds, url);
  const entry: BenchEntry = {
    model: spec.name,
    users,
    e2e_users_per_s: Math.round(e2e.usersPerS),
    ort_alone_users_per_s: Math.round(ortPerS),
    ort_alone_one_session_users_per_s: Math.round(ortOneSession),
    copy_alone_users_per_s: Math.round(copyPerS),
    scan_alone_users_per_s: Math.round(scan),
    peak_rss_mb: e2e.peakRssMb,
    publish_ms: e2e.publishMs,
    e2e_seconds: Math.round(e2e.seconds * 10) / 10,
    e2e_over_ort: Math.round((e2e.usersPerS / ortPerS) * 100) / 100,
    e2e_over_copy: Math.round((e2e.usersPerS / copyPerS) * 100) / 100,
    timings_ms: e2e.timings,
    guard_ms: rerun.timings.guard,
    guard_share: Math.round((rerun.timings.guard / rerun.timings.total) * 1000) / 1000,
    settings: { workers: config.workers, intra_op_threads: config.intraOpThreads, batch_size: spec.batchSize, chunk_rows: config.chunkRows, in_flight: config.inFlight },
  };
  log(JSON.stringify(entry));
  return entry;
}

async function lookup(url: string): Promise<Partial<BenchResults>> {
  const script = path.join(repo, 'bench', 'lookup-bench.ts');
  if (args['skip-lookup'] || !existsSync(script)) return {};
  log('lookup: API under wrk vs pgbench on the view');
  const r = await run(process.execPath, ['--import', 'tsx', script, '--users', '1000000'], { DATABASE_URL: url });
  if (r.code !== 0) {
    log(`lookup bench failed (${r.code}): ${r.stderr.slice(-1000)}`);
    return {};
  }
  const res = JSON.parse(readFileSync(path.join(args.out!, 'lookup.json'), 'utf8'));
  return { api_rps: res.api_rps, api_p99_ms: res.api_p99_ms, pgbench_tps: res.pgbench_tps, lookup: res };
}

const machine = () => ({ cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg_1m: os.loadavg()[0] });

/** --variants: the compressed models against fp32 instead of the stage table (bench/README.md, "Speed against agreement"). */
async function variants(url: string, sizes: number[], models: ModelSpec['name'][], benchDir: string): Promise<void> {
  const precisions = args.variants!.split(',') as Precision[];
  for (const p of precisions) if (!PRECISIONS.includes(p)) throw new Error(`--variants: unknown precision ${p}; use ${PRECISIONS.join(', ')}`);
  for (const m of models) {
    for (const users of sizes) {
      const r = await measureVariants({
        spec: MODELS[m], users, precisions, url, benchDir, config: loadConfig({}, process.env), rounds: Number(args.rounds), machine: machine(), log,
      });
      log(`wrote ${writeVariantReport(args.out!, r)}`);
    }
  }
}

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the server to benchmark, e.g. postgres://postgres@127.0.0.1:5432/test');
  const sizes = args.quick ? [1_000_000] : args.sizes!.split(',').map(Number);
  const models = (args.quick ? ['heavy'] : args.models!.split(',')) as ModelSpec['name'][];
  for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m}: use heavy or light`);
  const benchDir = path.join(repo, 'data', 'bench');
  mkdirSync(args.out!, { recursive: true });
  if (args.variants) return variants(url, sizes, models, benchDir);
  const entries: BenchEntry[] = [];
  for (const m of models) for (const users of sizes) entries.push(await measure(MODELS[m], users, url, benchDir));
  const results: BenchResults = {
    when: new Date().toISOString(),
    machine: machine(),
    entries,
    ...(await lookup(url)),
  };
  writeReport(args.out!, results);
  log(`wrote ${path.join(args.out!, 'latest.json')}, latest.md and chart.svg`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
