// Publish-notification benchmark: two `batchcast serve` processes on one database;
// after each of 50 publishes both servers are asked, in a tight loop, until each answers the new run.
// Two cases, one after the other:
//   fresh: every publish names a run never published before (the daily case: no server holds it yet,
//          so the first answers come through PostgreSQL while it loads into memory);
//   flip:  the pointer flips between two runs both servers hold (a rollback: a switch in memory). Latency = from just before
// publishRun (its transaction includes the commit, so this is an upper bound on "from commit") to the
// first answer naming the new run. The pointer poll is set to 10 minutes, so only NOTIFY can explain a
// fast switch. Target: p99 <= 100 ms.
//   DATABASE_URL=... node --import tsx bench/experiments/notify-latency.ts [--users 10000] [--publishes 50]
// Writes bench/results/notify-latency.json.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { createPool } from '../../src/db/connect.ts';
import { freePort } from '../../src/db/embedded.ts';
import { migrate } from '../../src/store/migrate.ts';
import { publishRun } from '../../src/store/pointer.ts';
import { ensureBenchGenerations, ensureRun } from '../load/lookup-data.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: { users: { type: 'string', default: '10000' }, publishes: { type: 'string', default: '50' } },
});
const users = Number(args.users);
const publishes = Number(args.publishes);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const job = 'notify';
const date = '2026-01-01';
const log = (m: string) => process.stderr.write(`${m}\n`);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function getJson(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function until(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await ok().catch(() => false))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main(): Promise<void> {
  const config = loadConfig({ databaseUrl, statementTimeoutMs: 0 }, {});
  const pool = createPool(databaseUrl, config, { max: 2, applicationName: 'batchcast notify bench' });
  const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-notify-bench-'));
  const servers: ChildProcess[] = [];
  try {
    await migrate(pool);
    const c0 = await pool.connect();
    let gens;
    const fresh: number[] = [];
    try {
      gens = await ensureBenchGenerations(c0, { job, date, users, k: 10, log });
      for (let i = 0; i < publishes; i++) fresh.push(await ensureRun(c0, { job, date, users, k: 10, tag: `fresh${i}`, log }));
    } finally {
      c0.release();
    }
    mkdirSync(path.join(root, 'jobs'));
    mkdirSync(path.join(root, 'config'));
    writeFileSync(path.join(root, 'config', 'default.json'), JSON.stringify({ serve: { pointerPollMs: 600_000 } }));
    writeFileSync(
      path.join(root, 'jobs', `${job}.json`),
      JSON.stringify({
        features: { path: 'unused/*.parquet', columns: ['f0'] },
        model: { path: 'unused.onnx', output: { kind: 'scores', name: 'scores' } },
        items: { path: 'unused.csv' },
        k: 10,
      }),
    );
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      urls.push(`http://127.0.0.1:${port}`);
      servers.push(
        spawn(
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
        ),
      );
    }
    const lookup = (u: string) => `${u}/v1/jobs/${job}/users/u7/recommendations`;
    const held = (u: string) =>
      getJson(`${u}/metrics`).then((m) => new RegExp(`batchcast_memory_generation_bytes\\{job="${job}"\\} [1-9]`).test(m.body));
    for (const u of urls) await until(`${u} holding the generation`, () => held(u));

    const measure = async (runs: number[]) => {
      const samples: number[] = [];
      /** The same, from when publishRun returned (the commit acknowledged to the publisher). */
      const afterCommit: number[] = [];
      const client = await pool.connect();
      try {
        for (const next of runs) {
          const t0 = performance.now();
          await publishRun(client, { job, date, runId: next, action: 'publish', lockTimeoutMs: 5_000 });
          const committed = performance.now();
          const seen = await Promise.all(
            urls.map(async (u) => {
              for (;;) {
                const a = await getJson(lookup(u));
                if (a.status === 200 && JSON.parse(a.body).run_id === next) return performance.now() - t0;
                if (performance.now() - t0 > 10_000) throw new Error(`${u} still not answering run ${next} after 10 s`);
              }
            }),
          );
          samples.push(...seen);
          afterCommit.push(...seen.map((ms) => Math.max(0, ms - (committed - t0))));
          await new Promise((r) => setTimeout(r, 200)); // the new run loads in the background meanwhile
        }
      } finally {
        client.release();
      }
      const r = (x: number) => Math.round(x * 10) / 10;
      return {
        samples: samples.length,
        p50_ms: r(percentile(samples, 50)),
        p99_ms: r(percentile(samples, 99)),
        max_ms: r(Math.max(...samples)),
        from_commit_ack_p50_ms: r(percentile(afterCommit, 50)),
        from_commit_ack_p99_ms: r(percentile(afterCommit, 99)),
        samples_ms: samples.map(r),
      };
    };
    const freshResult = await measure(fresh);
    // flip: A and B, each published once first so that both servers hold both
    await measure([gens.runB, gens.runA]);
    await new Promise((r) => setTimeout(r, 2_000));
    const flipResult = await measure(Array.from({ length: publishes }, (_, i) => (i % 2 ? gens.runA : gens.runB)));
    const { samples_ms: freshSamples, ...freshSummary } = freshResult;
    const { samples_ms: flipSamples, ...flipSummary } = flipResult;
    const result = {
      publishes,
      servers: 2,
      users,
      fresh: freshSummary,
      flip: flipSummary,
      load: os.loadavg().map((l) => Math.round(l * 10) / 10),
      at: new Date().toISOString(),
    };
    mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(repo, 'bench', 'results', 'notify-latency.json'),
      `${JSON.stringify({ ...result, fresh_samples_ms: freshSamples, flip_samples_ms: flipSamples }, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const s of servers) s.kill('SIGTERM');
    agent.destroy();
    await pool.end();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
