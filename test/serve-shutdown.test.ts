// `batchcast serve` as operators run it: a child process (node bin/batchcast.js serve), JSON logs with
// request ids and no credentials, and SIGTERM: stop accepting, finish the lookups in flight, exit 0.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture } from './serve-helpers.ts';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
let t: TestDb;
let pub: Published;
let child: ChildProcess | undefined;

beforeAll(async () => {
  t = await createTestDb('serve_shutdown');
  pub = await publishFixture(t, { name: 'shutdown' });
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  closeAgent();
  await t?.drop();
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

it('SIGTERM stops accepting, finishes the lookups in flight, closes the pool and exits 0', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Memory off: the lookups must be held inside PostgreSQL (below), which lookups from memory never enter.
  const env = { ...process.env, BATCHCAST_ROOT: pub.fx.root, LOOKUP_DATABASE_URL: '', BATCHCAST_SERVE_MEMORY_MB: '0' };
  child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--database-url', t.url, '--json', '--log-level', 'debug'], {
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

  const until = Date.now() + 30_000;
  while (
    !(await get(base, '/healthz').then(
      (a) => a.status === 200,
      () => false,
    ))
  ) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`serve did not start: ${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0]);
  const target = `/v1/jobs/shutdown/users/${user}/recommendations`;
  const first = await get(base, target, { 'x-request-id': 'test-request-1' });
  expect(first.status).toBe(200);
  expect(first.headers['x-request-id']).toBe('test-request-1');

  // Hold the lookups inside PostgreSQL: an exclusive lock on the pointer table makes them wait.
  const locker = await t.db.pool.connect();
  let inFlight: Promise<{ status: number }[]>;
  try {
    await locker.query('begin');
    await locker.query('lock table batchcast.published in access exclusive mode');
    inFlight = Promise.all(Array.from({ length: 5 }, () => get(base, target)));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBe(null); // still finishing the five lookups
    expect(await refused(port)).toBe(true); // but no longer accepting
  } finally {
    await locker.query('commit').catch(() => {});
    locker.release();
  }
  const answers = await inFlight;
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  expect(await exited).toBe(0);

  const lines = logs
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.some((l) => l.requestId === 'test-request-1' && l.status === 200)).toBe(true);
  expect(lines.some((l) => String(l.msg).startsWith('stopping'))).toBe(true);
  expect(lines.at(-1)!.msg).toBe('stopped');
  // The database is named in the logs, its password never (the embedded test server has one).
  const password = new URL(t.url).password;
  if (password) {
    expect(logs).not.toContain(t.url);
    expect(logs).not.toContain(`:${password}@`);
    expect(lines.find((l) => String(l.msg).startsWith('serving lookups'))!.msg).toContain(':***@');
  }
});
