// `batchcast serve --processes 2`: two real worker processes on one port (node:cluster). Connections are
// spread over both, /metrics adds up the workers' counters but not their shared gauges, a worker that dies
// is replaced while the other keeps answering, and SIGTERM stops them all with exit 0.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { type Published, publishFixture } from './serve-helpers.ts';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
let t: TestDb;
let pub: Published;
let child: ChildProcess | undefined;

beforeAll(async () => {
  t = await createTestDb('serve_cluster');
  pub = await publishFixture(t, { name: 'cluster' });
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await t?.drop();
});

/** GET on a fresh connection (no keep-alive), so the primary hands each request to a worker in turn. */
function fresh(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer to ${target} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The primary's children that run `serve` (not, say, tsx's esbuild service when run from source). */
const workerPids = (primary: number) =>
  execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(primary)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => / serve /.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((n) => n > 0);

/** The value of one series in a Prometheus text page. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in /metrics:\n${text.slice(0, 2000)}`);
  return Number(line.slice(series.length + 1));
}

async function until(what: string, check: () => Promise<boolean>, logs: () => string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what} within 30 s; serve said: ${logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('two processes share the port, add up their counters, replace a dead worker, and stop on SIGTERM', async () => {
  const port = await freePort();
  const env = { ...process.env, BATCHCAST_ROOT: pub.fx.root, LOOKUP_DATABASE_URL: '' };
  child = spawn(process.execPath, [bin, 'serve', '--processes', '2', '--port', String(port), '--database-url', t.url, '--json'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout!.on('data', (d) => {
    logs += d;
  });
  child.stderr!.on('data', (d) => {
    logs += d;
  });
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  await until(
    'two workers answering',
    async () => workerPids(child!.pid!).length === 2 && (await fresh(port, '/healthz')).status === 200,
    () => logs,
  );

  const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0]);
  const target = `/v1/jobs/cluster/users/${user}/recommendations`;
  const answers = [];
  for (let i = 0; i < 40; i++) answers.push(await fresh(port, target));
  expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
  expect(new Set(answers.map((a) => JSON.parse(a.body).run_id))).toEqual(new Set([pub.runId]));

  // 40 lookups spread over two processes; the page is the sum, whichever worker answers /metrics
  const page = (await fresh(port, '/metrics')).body;
  expect(sample(page, 'batchcast_http_requests_total{route="lookup",method="GET",status="200"}')).toBe(40);
  // a gauge of shared state is the same in both workers: taken once, not doubled
  expect(sample(page, 'batchcast_served_run_id{job="cluster"}')).toBe(pub.runId);

  // a worker killed outright is replaced; once the primary has seen it go, the others answer meanwhile
  // (a connection handed to the worker in the instant it died is lost with it, as with any crashed server)
  const [victim] = workerPids(child.pid!);
  process.kill(victim, 'SIGKILL');
  await until(
    'the primary to see the worker go',
    async () => new RegExp(`serve worker ${victim} exited \\(SIGKILL\\); starting another`).test(logs),
    () => logs,
  );
  for (let i = 0; i < 10; i++) expect((await fresh(port, target)).status).toBe(200);
  await until(
    'a replacement worker',
    async () => {
      const pids = workerPids(child!.pid!);
      return pids.length === 2 && !pids.includes(victim);
    },
    () => logs,
  );
  for (let i = 0; i < 10; i++) expect((await fresh(port, target)).status).toBe(200);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  const left = execFileSync('ps', ['-eo', 'pid='], { encoding: 'utf8' })
    .split('\n')
    .map((s) => Number(s.trim()));
  expect(left).not.toContain(victim);
}, 90_000);
