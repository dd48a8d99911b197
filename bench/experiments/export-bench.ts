// Export benchmark: `batchcast export` of a 1M-user generation in each format, as a child
// process under /usr/bin/time -v: wall time, peak RSS and file size; formats interleaved over --rounds,
// medians reported (the box is shared).
//   node --import tsx bench/experiments/export-bench.ts [--users 1000000] [--rounds 3] [--formats arrow,parquet,csv,jsonl]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) must be a real server: the synthetic
// generation (job "bench-export", bench/load/lookup-data.ts) stays there, so a rerun only measures.
// Writes bench/results/export.json.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { createPool } from '../../src/db/connect.ts';
import { migrate } from '../../src/store/migrate.ts';
import { median } from '../harness/util.ts';
import { ensureBenchGenerations } from '../load/lookup-data.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'arrow,parquet,csv,jsonl' },
    // extra commands measured the same way, name=module (bench/experiments/export-alternatives.ts)
    alternatives: { type: 'string', default: '' },
  },
});
const users = Number(args.users);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const job = 'bench-export';
const date = '2026-01-01';
const log = (m: string) => process.stderr.write(`${m}\n`);

/** Runs argv under /usr/bin/time -v: wall seconds and peak RSS (MB). */
function timed(argv: string[]): Promise<{ seconds: number; rss_mb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', ...argv], {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err.slice(-1500)}`));
      const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      if (!wall || !rss) return reject(new Error(`no timing in: ${err.slice(-800)}`));
      resolve({ seconds: Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]), rss_mb: Math.round(Number(rss[1]) / 1024) });
    });
  });
}

async function main(): Promise<void> {
  const config = loadConfig({ databaseUrl }, {});
  const pool = createPool(databaseUrl, config, { max: 1, applicationName: 'batchcast export-bench' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-export-bench-'));
  try {
    await migrate(pool);
    const client = await pool.connect();
    try {
      await ensureBenchGenerations(client, { job, date, users, k: 10, log });
    } finally {
      client.release();
    }
    const formats = args.formats.split(',');
    const alternatives = args.alternatives ? args.alternatives.split(',') : [];
    const results: Record<string, { seconds: number; rss_mb: number; mb: number }[]> = {};
    for (let r = 1; r <= Number(args.rounds); r++) {
      for (const name of [...formats, ...alternatives]) {
        const out = path.join(dir, `out-${name}`);
        const argv = formats.includes(name)
          ? [
              process.execPath,
              path.join(repo, 'bin', 'batchcast.js'),
              'export',
              '--job',
              job,
              '--date',
              date,
              '--format',
              name,
              '--out',
              out,
              '--log-level',
              'warn',
            ]
          : [process.execPath, '--import', 'tsx', path.join(here, 'export-alternatives.ts'), name, job, date, out];
        const m = await timed(argv);
        const row = { ...m, mb: Math.round(statSync(out).size / 1e5) / 10 };
        rmSync(out, { force: true });
        (results[name] ??= []).push(row);
        log(`round ${r} ${name}: ${JSON.stringify(row)} (load ${os.loadavg()[0].toFixed(1)})`);
      }
    }
    const summary = Object.fromEntries(
      Object.entries(results).map(([name, rows]) => [
        name,
        {
          seconds: median(rows.map((x) => x.seconds)),
          rss_mb: median(rows.map((x) => x.rss_mb)),
          file_mb: median(rows.map((x) => x.mb)),
          users_per_s: Math.round(users / median(rows.map((x) => x.seconds))),
        },
      ]),
    );
    mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(repo, 'bench', 'results', 'export.json'),
      `${JSON.stringify({ users, summary, rounds: results, at: new Date().toISOString() }, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
