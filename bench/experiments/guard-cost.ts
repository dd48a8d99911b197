// The cost of the guardrails: profile inputs (one DuckDB pass), profile outputs (SQL on the md5
// sample), compare with the reference (per-user overlap and RBO on up to 100k users), against the whole run.
// Reruns the same date so every measured run has a reference (the previous run), like a daily run does.
//   DATABASE_URL=... node --import tsx bench/experiments/guard-cost.ts [--users 1000000] [--model heavy] [--runs 3]
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_DATE, ensureDataset, MODELS, type ModelSpec } from '../harness/datasets.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (m: string) => process.stderr.write(`[guard-cost ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    model: { type: 'string', default: 'heavy' },
    runs: { type: 'string', default: '3' },
  },
});

interface Measured {
  total: number;
  guard: number;
  parts: Record<string, number>;
  reference: number | null;
}

function predictOnce(root: string, job: string, url: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(repo, 'bin', 'batchcast.js'), 'predict', '--job', job, '--date', BENCH_DATE, '--json'],
      { env: { ...process.env, BATCHCAST_ROOT: root, DATABASE_URL: url }, maxBuffer: 64 << 20, timeout: 1_800_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`predict failed: ${stderr.slice(-2000)}`));
        const r = JSON.parse(stdout.trim().split('\n').pop()!);
        resolve({ total: r.timings.total, guard: r.timings.guard, parts: r.guard.ms, reference: r.guard.referenceRunId });
      },
    );
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the server to benchmark');
  const spec = MODELS[args.model as ModelSpec['name']];
  const users = Number(args.users);
  const ds = await ensureDataset(path.join(repo, 'data', 'bench'), spec, users, log);
  const runs: Measured[] = [];
  for (let i = 0; i < Number(args.runs) + 1; i++) {
    const m = await predictOnce(ds.root, ds.job, url);
    log(JSON.stringify(m));
    if (m.reference !== null) runs.push(m); // only runs compared with a reference count
  }
  const share = median(runs.map((r) => r.guard / r.total));
  const out = {
    when: new Date().toISOString(),
    model: spec.name,
    users,
    runs,
    median_total_ms: median(runs.map((r) => r.total)),
    median_guard_ms: median(runs.map((r) => r.guard)),
    median_parts_ms: Object.fromEntries(Object.keys(runs[0].parts).map((k) => [k, median(runs.map((r) => r.parts[k]))])),
    median_guard_share: Math.round(share * 1000) / 1000,
  };
  mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(repo, 'bench', 'results', 'guard-cost.json'), JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
