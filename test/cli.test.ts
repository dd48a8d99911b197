// The CLI as cron and people use it: a child process, exit codes, one-line errors, and the embedded default.
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';

let t: TestDb;
let fx: Fixture;
const date = '2026-11-20';

beforeAll(async () => {
  t = await createTestDb('cli');
  fx = await makeFixture({ name: 'clijob', idType: 'string', output: 'scores', featureMode: 'list', users: 500, items: 60, dates: [date] });
});
afterAll(async () => {
  await t?.drop();
});

describe('batchcast predict (CLI)', () => {
  const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root });

  it('runs a date, prints the result as JSON and exits 0', async () => {
    const r = await runCli(['predict', '--job', fx.job, '--date', date, '--json'], env());
    expect(r.stderr).not.toMatch(/"level":50/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out).toMatchObject({ job: fx.job, date, rows: 500, rejected: 0 });
    const { rows } = await t.db.pool.query(
      'select count(*)::int as n from batchcast.recommendations where job = $1 and prediction_date = $2',
      [fx.job, date],
    );
    expect(rows[0].n).toBe(500 * fx.k);
  });

  it('exits 2 with a one-line message for bad input', async () => {
    const badDate = await runCli(['predict', '--job', fx.job, '--date', '2026-13-01'], env());
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('2026-13-01 is not a real calendar day');
    const format = await runCli(['predict', '--job', fx.job, '--date', '20261120'], env());
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('use YYYY-MM-DD');
    const unknown = await runCli(['predict', '--job', 'nosuchjob', '--date', date], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown job "nosuchjob".*known jobs: clijob/);
    const missing = await runCli(['predict', '--job', fx.job, '--date', '2026-11-01'], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/job clijob, date 2026-11-01: no features partition/);
    const usage = await runCli(['predict', '--date', date], env());
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("required option '--job <name>' not specified");
  });

  it('exits 3 when another run holds the lock for the same job and date', async () => {
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(hashtext('batchcast:' || $1), ($2::date - date '2000-01-01'))`, [fx.job, date]);
      const r = await runCli(['predict', '--job', fx.job, '--date', date], env());
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`job ${fx.job}, date ${date}: another run holds the lock`);
    } finally {
      await holder.end();
    }
  });

  it('exits 4 when the database cannot be reached, without printing the password', async () => {
    const port = await freePort();
    const r = await runCli(['predict', '--job', fx.job, '--date', date], {
      ...env(),
      DATABASE_URL: `postgres://someone:s3cret@127.0.0.1:${port}/db`,
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`cannot connect to PostgreSQL at postgres://someone:***@127.0.0.1:${port}/db`);
    expect(r.stderr).not.toContain('s3cret');
  });
});

describe('batchcast demo on the embedded PostgreSQL', () => {
  it('generates data, starts an embedded server on a free port, publishes and prints recommendations', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-demo-'));
    chmodSync(root, 0o755);
    mkdirSync(path.join(root, 'jobs'));
    const r = await runCli(
      ['demo', '--users', '3000', '--items', '400', '--days', '2', '--end-date', '2026-11-20'],
      { BATCHCAST_ROOT: root, BATCHCAST_PG_DIR: path.join(root, 'pg'), BATCHCAST_PG_PORT: String(await freePort()) },
      240_000,
    );
    expect(r.stderr).toMatch(/embedded PostgreSQL running on 127\.0\.0\.1:\d+/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Published 3,000 users' recommendations for 2026-11-20 (job demo");
    expect(r.stdout).toMatch(/User 1: likes/);
    expect(r.stdout).toMatch(/ 1\. .+ km /);
    expect(r.stdout).toContain('npx batchcast sql "select rank, item_id, score from batchcast.recommendations');
    expect(r.stdout).toContain('npx batchcast db start');
  }, 240_000);
});
