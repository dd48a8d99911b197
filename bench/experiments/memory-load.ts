// Memory-mode benchmark: how long a 1M-user generation takes to load into memory
// (COPY binary -> typed arrays, exactly what `serve` does on publish), how many bytes a user costs, and
// what one lookup costs in-process (no HTTP), for the rounds given; figures are medians.
//   DATABASE_URL=... node --import tsx --expose-gc bench/experiments/memory-load.ts [--users 1000000] [--rounds 3]
// Uses the generations of bench/load/lookup-data.ts (job "bench"), created on first use and reused after.
// Writes bench/results/memory-load.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { connectLike, createPool } from '../../src/db/connect.ts';
import { buildMemoryGeneration, type MemoryGeneration } from '../../src/serve/generations/memory-generation.ts';
import { generationRows, readGenerationMeta } from '../../src/store/generation.ts';
import { migrate } from '../../src/store/migrate.ts';
import { ensureBenchGenerations } from '../load/lookup-data.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: { users: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } },
});
const users = Number(args.users);
const rounds = Number(args.rounds);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (m: string) => process.stderr.write(`${m}\n`);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const config = loadConfig({ databaseUrl, statementTimeoutMs: 0 }, {});
  const pool = createPool(databaseUrl, config, { max: 2, applicationName: 'batchcast memory-load bench' });
  try {
    await migrate(pool);
    const c0 = await pool.connect();
    let runA: number;
    try {
      ({ runA } = await ensureBenchGenerations(c0, { job: 'bench', date: '2026-01-01', users, k: 10, log }));
    } finally {
      c0.release();
    }
    const perRound: {
      load_ms: number;
      load_cpu_ms: number;
      bytes: number;
      bytes_per_user: number;
      heap_delta_mb: number;
      lookup_us: number;
      load: number;
    }[] = [];
    for (let r = 1; r <= rounds; r++) {
      gc();
      const heap0 = process.memoryUsage();
      const client = await connectLike(pool, { applicationName: 'batchcast memory-load bench', statementTimeoutMs: 0 });
      let g: MemoryGeneration;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        const meta = (await readGenerationMeta(client, runA))!;
        g = await buildMemoryGeneration(meta, generationRows(client, meta), Number.POSITIVE_INFINITY);
      } finally {
        await client.end();
      }
      const loadMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      gc();
      const heap1 = process.memoryUsage();
      // In-process lookup cost: random users, answer built exactly as the API builds it (items, scores).
      const n = 200_000;
      let sink = 0;
      const t1 = performance.now();
      for (let i = 0; i < n; i++) sink += g.lookup(`u${(i * 7919) % users}`).itemIds!.length;
      const lookupUs = ((performance.now() - t1) * 1000) / n;
      if (sink !== n * 10) throw new Error(`lookups found ${sink / 10} of ${n} users`);
      const round = {
        load_ms: Math.round(loadMs),
        load_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
        bytes: g.bytes,
        bytes_per_user: Math.round(g.bytes / g.userCount),
        // what the process really grew by (typed arrays live outside the JS heap: arrayBuffers + external)
        heap_delta_mb: Math.round((heap1.arrayBuffers + heap1.heapUsed - heap0.arrayBuffers - heap0.heapUsed) / 1048576),
        lookup_us: Math.round(lookupUs * 100) / 100,
        load: Math.round(os.loadavg()[0] * 10) / 10,
      };
      perRound.push(round);
      log(`round ${r}: ${JSON.stringify(round)} (${g.userCount} users)`);
    }
    const result = {
      users,
      load_ms: median(perRound.map((x) => x.load_ms)),
      // node's own CPU for the load (the rest of the wall time is PostgreSQL producing the COPY, and waiting for a core)
      load_cpu_ms: median(perRound.map((x) => x.load_cpu_ms)),
      bytes_per_user: median(perRound.map((x) => x.bytes_per_user)),
      process_growth_mb: median(perRound.map((x) => x.heap_delta_mb)),
      lookup_us_in_process: median(perRound.map((x) => x.lookup_us)),
      rounds: perRound,
      at: new Date().toISOString(),
    };
    mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(repo, 'bench', 'results', 'memory-load.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `${JSON.stringify({ users, load_ms: result.load_ms, load_cpu_ms: result.load_cpu_ms, bytes_per_user: result.bytes_per_user, process_growth_mb: result.process_growth_mb, lookup_us_in_process: result.lookup_us_in_process })}\n`,
    );
  } finally {
    await pool.end();
  }
}

await main();
