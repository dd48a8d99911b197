// `npm run bench`: generates data at each size, measures each stage alone and the end-to-end predict on the
// same data in one run, and writes latest.{json,md}, chart.svg and lookup.json to --out (default
// bench/results; made if missing). Not part of `npm test`.
//   npm run bench -- --sizes 100000,1000000,10000000 --models heavy,light
//   npm run bench -- --quick --out DIR  (1M users, heavy model; every file it writes goes to DIR)
//   --rounds N (default 3): ORT alone, COPY alone and end to end in turns N times, medians reported
//   npm run bench -- --variants fp32,int8,fp16 --sizes 1000000   (compressed models against fp32: variants.ts)
//   --precision int8: the stage table for one compressed variant of the model alone (e.g. at 100M users)
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.ts';
import { PRECISIONS, type Precision } from '../../src/demo/build-model.ts';
import { runTable } from '../../src/store/tables.ts';
import { ensureDataset, ensureVariant, MODELS, type ModelSpec } from './datasets.ts';
import { type EndToEnd, endToEnd, run } from './end-to-end.ts';
import { type BenchEntry, type BenchResults, writeReport } from './report.ts';
import { copyAlone, ortAlone, sampleFeatures, scanAlone } from './stages.ts';
import { median } from './util.ts';
import { measureVariants, writeVariantReport } from './variants.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    models: { type: 'string', default: 'heavy,light' },
    quick: { type: 'boolean', default: false },
    'skip-lookup': { type: 'boolean', default: false },
    variants: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    precision: { type: 'string', default: 'fp32' },
    out: { type: 'string', default: path.join(repo, 'bench', 'results') },
  },
});

/** Where every file of this run goes, the lookup driver's included. */
const outDir = path.resolve(args.out!);

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** Bytes on disk of one generation: its run table with its index and TOAST. */
async function generationBytes(url: string, runId: number): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ b: string }>('select pg_total_relation_size($1::regclass) as b', [runTable(runId)]);
    return Number(rows[0].b);
  } finally {
    await c.end();
  }
}

/**
 * One model and size: ORT alone, COPY alone and end to end in turns, --rounds times, medians (the targets are
 * stated as medians of 3 interleaved runs: single timings on this machine move +-15%). One end-to-end run
 * before the rounds (not measured) gives the date a published generation, so every round's run is a rerun
 * that pays the guardrails' whole cost (input profile on the reference's bins, comparison): the guard's share
 * is the median over the rounds.
 */
async function measure(
  spec: ModelSpec,
  users: number,
  url: string,
  benchDir: string,
  rounds: number,
  precision: Precision,
): Promise<BenchEntry> {
  const config = loadConfig({}, process.env);
  const ds = ensureVariant(await ensureDataset(benchDir, spec, users, log), precision);
  log(`${ds.job}: scan alone`);
  const scan = await scanAlone(ds, config.chunkRows);
  const sample = await sampleFeatures(ds, Math.min(users, 200_000));
  const ort: number[] = [],
    ortOne: number[] = [],
    copy: number[] = [],
    e2e: EndToEnd[] = [];
  log(`${ds.job}: end to end once before the rounds, so that each round's run has a reference`);
  await endToEnd(ds, url);
  for (let r = 1; r <= rounds; r++) {
    log(`${ds.job} round ${r}/${rounds}: ORT alone (${config.workers} x ${config.intraOpThreads} threads, batch ${spec.batchSize})`);
    ort.push(await ortAlone(ds, sample.features, config.workers, config.intraOpThreads));
    // the reference shape the project was first sized on: one session with 2 intra-op threads
    ortOne.push(await ortAlone(ds, sample.features, 1, config.workers * config.intraOpThreads));
    log(`${ds.job} round ${r}/${rounds}: COPY alone`);
    copy.push(await copyAlone(url, ds, sample.ids, Math.min(users, 3_000_000)));
    log(`${ds.job} round ${r}/${rounds}: end to end (a rerun: profile + comparison with the previous run)`);
    e2e.push(await endToEnd(ds, url));
    log(
      `${ds.job} round ${r}/${rounds}: ORT ${Math.round(ort[r - 1])}, COPY ${Math.round(copy[r - 1])}, e2e ${Math.round(e2e[r - 1].usersPerS)} users/s`,
    );
  }
  const mid = [...e2e].sort((a, b) => a.usersPerS - b.usersPerS)[(e2e.length - 1) >> 1];
  const reruns = e2e;
  const guardShares = reruns.map((x) => x.timings.guard / x.timings.total);
  const bytes = await generationBytes(url, e2e[e2e.length - 1].runId);
  const entry: BenchEntry = {
    model: precision === 'fp32' ? spec.name : `${spec.name}-${precision}`,
    users,
    rounds,
    e2e_users_per_s: Math.round(median(e2e.map((x) => x.usersPerS))),
    ort_alone_users_per_s: Math.round(median(ort)),
    ort_alone_one_session_users_per_s: Math.round(median(ortOne)),
    copy_alone_users_per_s: Math.round(median(copy)),
    scan_alone_users_per_s: Math.round(scan),
    peak_rss_mb: Math.max(...e2e.map((x) => x.peakRssMb)),
    publish_ms: median(e2e.map((x) => x.publishMs)),
    e2e_seconds: Math.round(median(e2e.map((x) => x.seconds)) * 10) / 10,
    e2e_over_ort: ratio(median(e2e.map((x) => x.usersPerS)), median(ort)),
    e2e_over_copy: ratio(median(e2e.map((x) => x.usersPerS)), median(copy)),
    per_round: e2e.map((x, i) => ({
      ort: Math.round(ort[i]),
      copy: Math.round(copy[i]),
      e2e: Math.round(x.usersPerS),
      e2e_over_ort: ratio(x.usersPerS, ort[i]),
      e2e_over_copy: ratio(x.usersPerS, copy[i]),
      guard_share: Math.round(guardShares[i] * 1000) / 1000,
    })),
    timings_ms: mid.timings,
    disk_bytes_per_user: Math.round(bytes / users),
    ...(reruns.length
      ? { guard_ms: median(reruns.map((x) => x.timings.guard)), guard_share: Math.round(median(guardShares) * 1000) / 1000 }
      : {}),
    settings: {
      workers: config.workers,
      intra_op_threads: config.intraOpThreads,
      batch_size: spec.batchSize,
      chunk_rows: config.chunkRows,
      in_flight: config.inFlight,
    },
  };
  log(JSON.stringify(entry));
  return entry;
}

async function lookup(url: string): Promise<Partial<BenchResults>> {
  if (args['skip-lookup']) return {};
  log('lookup: API under wrk vs pgbench on the view');
  // its own process, as when run alone (it parses its own flags); --out puts lookup.json beside the report
  const script = path.join(repo, 'bench', 'load', 'lookup-bench.ts');
  const r = await run(process.execPath, ['--import', 'tsx', script, '--users', '1000000', '--out', outDir], { DATABASE_URL: url });
  if (r.code !== 0) {
    log(`lookup bench failed (${r.code}): ${r.stderr.slice(-1000)}`);
    return {};
  }
  const res = JSON.parse(readFileSync(path.join(outDir, 'lookup.json'), 'utf8'));
  return { api_rps: res.api_rps, api_p99_ms: res.api_p99_ms, pgbench_tps: res.pgbench_tps, lookup: res };
}

const machine = () => ({
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? '',
  memory_gb: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  loadavg_1m: os.loadavg()[0],
});

/** --variants: the compressed models against fp32 instead of the stage table (bench/README.md, "Speed against agreement"). */
async function variants(url: string, sizes: number[], models: ModelSpec['name'][], benchDir: string): Promise<void> {
  const precisions = args.variants!.split(',') as Precision[];
  for (const p of precisions)
    if (!PRECISIONS.includes(p)) throw new Error(`--variants: unknown precision ${p}; use ${PRECISIONS.join(', ')}`);
  for (const m of models) {
    for (const users of sizes) {
      const r = await measureVariants({
        spec: MODELS[m],
        users,
        precisions,
        url,
        benchDir,
        config: loadConfig({}, process.env),
        rounds: Number(args.rounds),
        machine: machine(),
        log,
      });
      log(`wrote ${writeVariantReport(outDir, r)}`);
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
  mkdirSync(outDir, { recursive: true });
  if (args.variants) return variants(url, sizes, models, benchDir);
  const entries: BenchEntry[] = [];
  const precision = args.precision as Precision;
  if (!PRECISIONS.includes(precision)) throw new Error(`unknown --precision ${precision}: use one of ${PRECISIONS.join(', ')}`);
  for (const m of models)
    for (const users of sizes) entries.push(await measure(MODELS[m], users, url, benchDir, Number(args.rounds), precision));
  const results: BenchResults = {
    when: new Date().toISOString(),
    machine: machine(),
    entries,
    ...(await lookup(url)),
  };
  writeReport(outDir, results);
  log(`wrote ${path.join(outDir, 'latest.json')}, latest.md and chart.svg`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
