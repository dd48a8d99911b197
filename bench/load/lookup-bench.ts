// Lookup benchmark: the API under wrk against pgbench on the view, same table, same date,
// same concurrency, in one run. Each round: pgbench, then wrk in the steady state (the figures the targets
// are about), then wrk again with a publish in its middle (the new generation loads under load), counting
// non-200 answers; then wrk paced at fractions of pgbench's tps (--paced 0.5,1), for the p99 at that load.
//   node --import tsx bench/load/lookup-bench.ts [--users 1000000] [--duration 15] [--rounds 3] [--connections 32]
//     [--memory-mb 1024 (default: lookups from memory) | 0 (every lookup reads PostgreSQL)]
//     [--processes N (serve.processes; default 1)] [--paced 0.5,1,1.25 (fractions of the round's pgbench tps)]
//     [--auth (every request sends an API key made for the run, scopes lookup and metrics; results file
//      gets -auth; without it serve runs with --insecure-no-auth, so keys left in the database change nothing)]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) must be a real server: the data stays
// there between runs (two generations of job "bench"), so a rerun only measures.
//     [--out DIR (default bench/results; `npm run bench` passes its own --out)]
// Writes DIR/lookup.json; each figure is the median over the rounds (the box is shared).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { createPool } from '../../src/db/connect.ts';
import { freePort } from '../../src/db/embedded.ts';
import { createApiKey, revokeApiKey } from '../../src/store/api-keys.ts';
import { migrate } from '../../src/store/migrate.ts';
import { publishRun } from '../../src/store/pointer.ts';
import { median, runOutput } from '../harness/util.ts';
import { backendsOf, CpuSampler, treeOf } from './lookup-cpu.ts';
import { ensureBenchGenerations } from './lookup-data.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    // Another server to measure instead of `batchcast serve` (bench/load/lookup-variants/*.ts).
    server: { type: 'string' },
    // serve.memoryBudgetMb of the server; the results file is lookup.json, or lookup-memory-<n>.json when given.
    'memory-mb': { type: 'string' },
    processes: { type: 'string' },
    // Also run wrk paced at these fractions of the round's pgbench tps (comma-separated; '' for none): the
    // p99 at a given load, where the steady round gives it at saturation (a closed loop, always queueing).
    paced: { type: 'string', default: '0.5,1,1.25' },
    // Authentication on: issue 21 wants lookup throughput with it >= 0.9 x without (bench/README-lookup.md).
    auth: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(repo, 'bench', 'results') },
  },
});
const outDir = path.resolve(args.out);
const users = Number(args.users);
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const pacedFractions = args.paced
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const job = 'bench';
const BENCH_KEY = 'lookup-bench';
const date = '2026-01-01';
const log = (m: string) => process.stderr.write(`${m}\n`);
/** Sent by every request of the run when --auth: `Bearer <key>`. */
let authorization: string | undefined;
const authHeaders = () => (authorization ? { authorization } : undefined);

async function waitReady(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await fetch(`${url}/readyz?job=${job}`, { headers: authHeaders() }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the API at ${url} was not ready within ${ms} ms`);
}

const database = new URL(databaseUrl).pathname.slice(1) || 'postgres';
const title = (re: RegExp) => (p: { title: string }) => re.test(p.title);

interface PgbenchResult {
  tps: number;
  cpu: { pg_us: number; client_us: number };
}

async function pgbench(seconds: number): Promise<PgbenchResult> {
  const pgCpu = new CpuSampler(backendsOf(database)).start();
  const clientCpu = new CpuSampler(title(/^(\S*\/)?pgbench /)).start();
  const out = await runOutput('pgbench', [
    '-n',
    '-M',
    'prepared',
    '-c',
    String(connections),
    '-j',
    '2',
    '-T',
    String(seconds),
    '-D',
    `users=${users}`,
    '-D',
    `date=${date}`,
    '-D',
    `job=${job}`,
    '-f',
    path.join(here, 'lookup-pgbench.sql'),
    databaseUrl,
  ]);
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (!m) throw new Error(`no tps in pgbench output: ${out.slice(-1000)}`);
  const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
  const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, tx));
  return { tps: Number(m[1]), cpu: { pg_us: per(pgCpu.stop()), client_us: per(clientCpu.stop()) } };
}

interface WrkResult {
  requests: number;
  non_200: number;
  errors: number;
  p50_us: number;
  p99_us: number;
  duration_us: number;
  cpu: { api_us: number; pg_us: number; client_us: number };
}

async function wrk(url: string, seconds: number, serverPid: number, during?: () => Promise<void>, delayMs = 0): Promise<WrkResult> {
  const apiCpu = new CpuSampler(treeOf(serverPid)).start();
  const pgCpu = new CpuSampler(backendsOf(database)).start();
  const clientCpu = new CpuSampler(title(/^(\S*\/)?wrk /)).start();
  const done = runOutput(
    'wrk',
    ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', path.join(here, 'lookup-random-user.lua'), url],
    { ...process.env, USERS: String(users), JOB: job, DELAY_MS: String(delayMs), AUTHORIZATION: authorization ?? '' },
  );
  let publishing: Promise<void> | undefined;
  const timer =
    during &&
    setTimeout(
      () => {
        publishing = during();
      },
      (seconds * 1000) / 2,
    );
  const out = await done.finally(() => clearTimeout(timer));
  await publishing;
  const m = /RESULT (\{.*\})/.exec(out);
  if (!m) throw new Error(`no RESULT line in wrk output: ${out.slice(-1000)}`);
  const r = JSON.parse(m[1]) as Omit<WrkResult, 'cpu'>;
  const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, r.requests));
  return { ...r, cpu: { api_us: per(apiCpu.stop()), pg_us: per(pgCpu.stop()), client_us: per(clientCpu.stop()) } };
}

async function main(): Promise<void> {
  const config = loadConfig({ databaseUrl, statementTimeoutMs: 0 }, {});
  const pool = createPool(databaseUrl, config, { max: 2, applicationName: 'batchcast lookup-bench' });
  const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-lookup-bench-'));
  let server: ReturnType<typeof spawn> | undefined;
  try {
    await migrate(pool);
    if (args.auth) {
      await revokeApiKey(pool, { name: BENCH_KEY }).catch(() => {}); // one left by an interrupted run
      authorization = `Bearer ${(await createApiKey(pool, { name: BENCH_KEY, scopes: ['lookup', 'metrics'] })).key}`;
    }
    const client = await pool.connect();
    let gens;
    try {
      gens = await ensureBenchGenerations(client, { job, date, users, k: 10, log });
    } finally {
      client.release();
    }
    mkdirSync(path.join(root, 'jobs'));
    writeFileSync(
      path.join(root, 'jobs', `${job}.json`),
      JSON.stringify({
        description: 'lookup benchmark: synthetic generations written by bench/load/lookup-data.ts',
        features: { path: 'unused/*.parquet', columns: ['f0'] },
        model: { path: 'unused.onnx', output: { kind: 'scores', name: 'scores' } },
        items: { path: 'unused.csv' },
        k: 10,
        fallback: true,
      }),
    );
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const argv = args.server
      ? ['--import', 'tsx', path.resolve(args.server), '--port', String(port), '--database-url', databaseUrl]
      : [
          path.join(repo, 'bin', 'batchcast.js'),
          'serve',
          '--port',
          String(port),
          '--database-url',
          databaseUrl,
          '--log-level',
          'warn',
          '--json',
          ...(args.auth ? [] : ['--insecure-no-auth']),
        ];
    log(`server: ${args.server ?? 'batchcast serve'}`);
    const memoryMb = args['memory-mb'];
    const processes = Number(args.processes ?? 1);
    const env = {
      ...process.env,
      BATCHCAST_ROOT: root,
      BATCHCAST_SERVE_PROCESSES: String(processes),
      ...(memoryMb === undefined ? {} : { BATCHCAST_SERVE_MEMORY_MB: memoryMb }),
    };
    server = spawn(process.execPath, argv, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => server!.on('exit', (code) => resolve(code)));
    await waitReady(url, 30_000);
    if (memoryMb !== '0' && !args.server) {
      const t0 = Date.now();
      const held = () =>
        fetch(`${url}/metrics`, { headers: authHeaders() })
          .then((r) => r.text())
          .then(
            (m) => new RegExp(`batchcast_memory_generation_bytes\\{job="${job}"\\} [1-9]`).test(m),
            () => false,
          );
      while (!(await held())) {
        if (Date.now() - t0 > 120_000) throw new Error('the generation was not loaded into memory within 120 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      // /metrics adds the processes up: the first one holding it shows; give the others the time a load takes
      if (processes > 1) await new Promise((r) => setTimeout(r, 5_000));
      log(`generation held in memory after ${Date.now() - t0} ms (from ready)`);
    }

    log(
      `warm-up (load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})`,
    );
    await wrk(url, 3, server.pid!);
    await pgbench(3);
    let published = gens.runA;
    const flip = async () => {
      const next = published === gens.runA ? gens.runB : gens.runA;
      const c = await pool.connect();
      try {
        await publishRun(c, { job, date, runId: next, action: 'publish', lockTimeoutMs: 5_000 });
        published = next;
      } finally {
        c.release();
      }
    };
    const perRound: {
      pgbench_tps: number;
      api_rps: number;
      api_p99_ms: number;
      non_200: number;
      load: number;
      api_cpu_us: WrkResult['cpu'];
      pgbench_cpu_us: PgbenchResult['cpu'];
      publish_api_rps: number;
      publish_api_p99_ms: number;
      paced: { fraction: number; offered_rps: number; api_rps: number; p50_ms: number; p99_ms: number; non_200: number }[];
    }[] = [];
    const rps = (w: WrkResult) => Math.round(w.requests / (w.duration_us / 1e6));
    for (let r = 1; r <= rounds; r++) {
      const pb = await pgbench(duration);
      const w = await wrk(url, duration, server.pid!);
      const wp = await wrk(url, duration, server.pid!, flip);
      const paced = [];
      for (const fraction of pacedFractions) {
        const offered = pb.tps * fraction;
        const wr = await wrk(url, duration, server.pid!, undefined, (connections * 1000) / offered);
        paced.push({
          fraction,
          offered_rps: Math.round(offered),
          api_rps: rps(wr),
          p50_ms: wr.p50_us / 1000,
          p99_ms: wr.p99_us / 1000,
          non_200: wr.non_200 + wr.errors,
        });
      }
      const round = {
        pgbench_tps: Math.round(pb.tps),
        api_rps: rps(w),
        api_p99_ms: w.p99_us / 1000,
        non_200: w.non_200 + w.errors + wp.non_200 + wp.errors,
        load: Math.round(os.loadavg()[0] * 10) / 10,
        api_cpu_us: w.cpu,
        pgbench_cpu_us: pb.cpu,
        publish_api_rps: rps(wp),
        publish_api_p99_ms: wp.p99_us / 1000,
        paced,
      };
      perRound.push(round);
      log(`round ${r}: ${JSON.stringify(round)}`);
    }
    server.kill('SIGTERM');
    const code = await exited;
    server = undefined;
    const result = {
      api_rps: median(perRound.map((x) => x.api_rps)),
      api_p99_ms: median(perRound.map((x) => x.api_p99_ms)),
      // the rounds with a publish in their middle: a 1M-user generation loading while wrk runs
      publish_api_rps: median(perRound.map((x) => x.publish_api_rps)),
      publish_api_p99_ms: median(perRound.map((x) => x.publish_api_p99_ms)),
      pgbench_tps: median(perRound.map((x) => x.pgbench_tps)),
      ratio: 0,
      non_200_during_publish: perRound.reduce((s, x) => s + x.non_200, 0),
      // wrk paced at a fraction of pgbench's tps: the p99 at that load (medians over the rounds)
      paced: pacedFractions.map((fraction, i) => ({
        fraction,
        api_rps: median(perRound.map((x) => x.paced[i].api_rps)),
        p50_ms: median(perRound.map((x) => x.paced[i].p50_ms)),
        p99_ms: median(perRound.map((x) => x.paced[i].p99_ms)),
        non_200: perRound.reduce((s, x) => s + x.paced[i].non_200, 0),
      })),
      serve_exit_code_after_sigterm: code,
      // CPU microseconds per lookup (server, PostgreSQL, load generator): steadier than rates on a shared box.
      cpu_us_per_lookup: {
        api: median(perRound.map((x) => x.api_cpu_us.api_us)),
        api_pg: median(perRound.map((x) => x.api_cpu_us.pg_us)),
        wrk: median(perRound.map((x) => x.api_cpu_us.client_us)),
        pgbench_pg: median(perRound.map((x) => x.pgbench_cpu_us.pg_us)),
        pgbench: median(perRound.map((x) => x.pgbench_cpu_us.client_us)),
      },
      server: args.server ?? 'batchcast serve',
      processes,
      memory_mb: memoryMb ?? 'default',
      auth: args.auth,
      users,
      duration_s: duration,
      connections,
      rounds: perRound,
      at: new Date().toISOString(),
    };
    result.ratio = Math.round((result.api_rps / result.pgbench_tps) * 1000) / 1000;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      path.join(
        outDir,
        `${memoryMb === undefined ? 'lookup' : `lookup-memory-${memoryMb}`}${processes > 1 ? `-p${processes}` : ''}${args.auth ? '-auth' : ''}.json`,
      ),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    process.stdout.write(
      `${JSON.stringify({ api_rps: result.api_rps, api_p99_ms: result.api_p99_ms, pgbench_tps: result.pgbench_tps, ratio: result.ratio, publish_api_rps: result.publish_api_rps, publish_api_p99_ms: result.publish_api_p99_ms, non_200_during_publish: result.non_200_during_publish, paced: result.paced })}\n`,
    );
  } finally {
    server?.kill('SIGTERM');
    if (args.auth) await revokeApiKey(pool, { name: BENCH_KEY }).catch(() => {});
    await pool.end();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
