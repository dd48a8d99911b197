// The end-to-end measurement: `batchcast predict` in a child process under /usr/bin/time, for its peak RSS.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DATE } from './datasets.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function run(cmd: string, argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, argv, { env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 3_600_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

export interface EndToEnd {
  runId: number;
  usersPerS: number;
  seconds: number;
  peakRssMb: number;
  publishMs: number;
  timings: Record<string, number>;
}

export async function endToEnd(ds: { job: string; root: string }, url: string): Promise<EndToEnd> {
  const r = await run(
    '/usr/bin/time',
    [
      '-f',
      'peak_rss_kb=%M',
      process.execPath,
      path.join(repo, 'bin', 'batchcast.js'),
      'predict',
      '--job',
      ds.job,
      '--date',
      BENCH_DATE,
      '--json',
    ],
    { BATCHCAST_ROOT: ds.root, DATABASE_URL: url },
  );
  if (r.code !== 0) throw new Error(`predict ${ds.job} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const rss = Number(/peak_rss_kb=(\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
  return {
    runId: out.runId,
    usersPerS: out.usersPerSecond,
    seconds: out.seconds,
    peakRssMb: Math.round(rss),
    publishMs: out.timings.publish,
    timings: out.timings,
  };
}
