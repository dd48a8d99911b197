// SQL on the embedded default, as a newcomer meets it: `demo` (which stops its server when it exits), then
// `sql` (which starts it again), then `db start` to keep it up for psql, and `db stop`.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runningServer } from '../src/db/embedded.ts';
import { runCli } from './run-cli.ts';

const date = '2026-11-20';
let root: string;
let env: Record<string, string>;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-sql-'));
  chmodSync(root, 0o755); // the postgres user must reach its data directory inside
  mkdirSync(path.join(root, 'jobs'));
  env = { BATCHCAST_ROOT: root, BATCHCAST_PG_DIR: path.join(root, 'pg'), BATCHCAST_PG_PORT: String(await freePort()) };
  const demo = await runCli(['demo', '--users', '2000', '--items', '300', '--days', '1', '--end-date', date], env, 240_000);
  expect(demo.code, demo.stderr).toBe(0);
  expect(runningServer(env.BATCHCAST_PG_DIR)).toBeUndefined(); // the demo stopped the server it started
}, 240_000);

afterAll(async () => {
  await runCli(['db', 'stop'], env); // in case a test failed with the server up
});

describe('batchcast sql', () => {
  it('works right after demo: starts the embedded server, prints a table, JSON or CSV', async () => {
    const q = `select rank, item_id, score from batchcast.recommendations where job = 'demo' and prediction_date = '${date}' and user_id = '1' order by rank`;
    const table = await runCli(['sql', q], env);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^rank\s+item_id\s+score$/);
    expect(lines[2]).toMatch(/^1\s+R\d+\s+[\d.]+$/);
    expect(lines.at(-1)).toBe('(10 rows)');

    const json = await runCli(
      ['sql', 'select count(distinct user_id)::int as users, min(prediction_date)::text as d from batchcast.recommendations', '--json'],
      env,
    );
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([{ users: 2000, d: date }]);

    const csv = await runCli(['sql', `select 'a,b' as x, null as y, 3 as "z""q"`, '--csv'], env);
    expect(csv.stdout).toBe('x,y,"z""q"\n"a,b",,3\n');
    expect(runningServer(env.BATCHCAST_PG_DIR)).toBeUndefined(); // sql stopped the server it started
  }, 120_000);

  it('exits 2 naming the problem for a bad query', async () => {
    const r = await runCli(['sql', 'select * from batchcast.nope'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/batchcast: sql: relation "batchcast.nope" does not exist at character 15/);
  }, 120_000);
});

describe('batchcast db start|status|url|stop', () => {
  it('keeps the embedded server up between commands, for psql and a pg client', async () => {
    const down = await runCli(['db', 'status', '--json'], env);
    expect(JSON.parse(down.stdout)).toMatchObject({ running: false });
    const noUrl = await runCli(['db', 'url'], env);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('npx batchcast db start');

    const start = await runCli(['db', 'start'], env);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/started the embedded PostgreSQL on 127\.0\.0\.1:\d+/);
    const status = JSON.parse((await runCli(['db', 'status', '--json'], env)).stdout);
    expect(status).toMatchObject({ running: true, port: Number(env.BATCHCAST_PG_PORT) });
    expect(status.holderPid).toBeGreaterThan(0);
    expect(status.url).toBeUndefined(); // the password is printed only by `db url`

    const url = (await runCli(['db', 'url'], env)).stdout.trim();
    expect(url).toBe(`postgres://postgres:batchcast@127.0.0.1:${env.BATCHCAST_PG_PORT}/postgres`);
    const { stdout } = await promisify(execFile)('psql', [url, '-At', '-c', 'select count(*) from batchcast.recommendations']);
    expect(stdout.trim()).toBe(String(2000 * 10));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query('select count(*)::int as n from batchcast.runs')).rows[0].n).toBe(1);
    } finally {
      await client.end();
    }

    // Other commands use the held server and leave it running.
    const again = await runCli(['sql', 'select 1 as one'], env);
    expect(again.code).toBe(0);
    expect(runningServer(env.BATCHCAST_PG_DIR)?.pid).toBe(status.pid);
    expect((await runCli(['db', 'start'], env)).stdout).toContain('the embedded PostgreSQL is running');

    const stop = await runCli(['db', 'stop'], env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('stopped the embedded PostgreSQL');
    expect(runningServer(env.BATCHCAST_PG_DIR)).toBeUndefined();
    expect(JSON.parse((await runCli(['db', 'status', '--json'], env)).stdout)).toMatchObject({ running: false });
  }, 180_000);

  it('starts as the first command of a new project, with no data/ directory yet', async () => {
    const fresh = mkdtempSync(path.join(os.tmpdir(), 'batchcast-db-first-'));
    chmodSync(fresh, 0o755);
    const first = { BATCHCAST_ROOT: fresh, BATCHCAST_PG_PORT: String(await freePort()) };
    try {
      const start = await runCli(['db', 'start'], first);
      expect(start.code, start.stderr).toBe(0);
      expect(runningServer(path.join(fresh, 'data', 'pg'))).toBeDefined();
      expect(existsSync(path.join(fresh, 'data', 'pg-server.log'))).toBe(true);
    } finally {
      expect((await runCli(['db', 'stop'], first)).code).toBe(0);
    }
  }, 120_000);
});
