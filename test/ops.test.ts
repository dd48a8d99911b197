// Run operations through the CLI on a real PostgreSQL: the ledger (runs), rollback (publish --run) served
// from the very next query, clear refusals for runs that cannot be published, and prune.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
const date = '2026-11-20';
const badDate = '2026-11-21';
let t: TestDb;
let fx: Fixture;
let config: Config;
const runIds: number[] = [];
let failedRunId: number;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  t = await createTestDb('ops');
  fx = await makeFixture({
    name: 'ops',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 50,
    dates: [date, badDate],
    job: { retention: { keep: 5 } },
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root }, {});
  for (let i = 0; i < 3; i++) runIds.push((await predict({ job: fx.job, date, config, db: t.db, log })).runId);
  writeFileSync(path.join(fx.featuresDir, `dt=${badDate}`, 'part-1.parquet'), 'not parquet');
  await expect(predict({ job: fx.job, date: badDate, config, db: t.db, log })).rejects.toThrow(/not readable as Parquet/);
  const { rows } = await t.db.pool.query(`select max(run_id)::int as id from batchcast.runs where status = 'failed'`);
  failedRunId = rows[0].id;
});
afterAll(async () => {
  await t?.drop();
});

async function served(client: Pick<pg.Client, 'query'> = t.db.pool): Promise<{ runs: number[]; rows: number }> {
  const { rows } = await client.query<{ run_id: number; n: number }>(
    'select run_id, count(*)::int as n from batchcast.recommendations where job = $1 and prediction_date = $2 group by run_id',
    [fx.job, date],
  );
  return { runs: rows.map((r) => r.run_id), rows: rows.reduce((s, r) => s + r.n, 0) };
}

describe('batchcast runs', () => {
  it('prints the ledger as a table, newest first, and as JSON', async () => {
    const table = await cli(['runs', '--job', fx.job]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run\s+job\s+date\s+status\s+published\s+model\s+rows\s+seconds\s+started \(UTC\)\s+table\s+error$/);
    expect(lines[2]).toMatch(
      new RegExp(`^\\s*${failedRunId}\\s+ops\\s+${badDate}\\s+failed\\s+(ops-v1\\s+)?0\\s+.*not readable as Parquet`),
    );
    expect(lines[3]).toMatch(new RegExp(`^\\s*${runIds[2]}\\s+ops\\s+${date}\\s+succeeded\\s+yes\\s+ops-v1\\s+300\\s`));

    const json = await cli(['runs', '--job', fx.job, '--date', date, '--json']);
    expect(json.code).toBe(0);
    const runs = JSON.parse(json.stdout) as { run_id: number; status: string; published: boolean; prediction_date: string }[];
    expect(runs.map((r) => [r.run_id, r.status, r.published, r.prediction_date])).toEqual([
      [runIds[2], 'succeeded', true, date],
      [runIds[1], 'succeeded', false, date],
      [runIds[0], 'succeeded', false, date],
    ]);
    expect((await cli(['runs', '--date', '2026-02-30'])).code).toBe(2);
  });
});

describe('batchcast publish --run (rollback)', () => {
  it('serves the older generation from the very next query', async () => {
    const reader = new pg.Client({ connectionString: t.url });
    await reader.connect();
    try {
      expect(await served(reader)).toEqual({ runs: [runIds[2]], rows: 300 * fx.k });
      const r = await cli(['publish', '--run', String(runIds[0])]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`job ops, date ${date} now serves run ${runIds[0]} \\(rollback from run ${runIds[2]}, \\d+ ms\\)`),
      );
      // A connection opened before the rollback, no waiting: the pointer moved in one committed transaction.
      expect(await served(reader)).toEqual({ runs: [runIds[0]], rows: 300 * fx.k });
    } finally {
      await reader.end();
    }
    const { rows } = await t.db.pool.query(
      'select run_id, previous_run_id, action from batchcast.publish_log where job = $1 order by id desc limit 1',
      [fx.job],
    );
    expect(rows[0]).toEqual({ run_id: runIds[0], previous_run_id: runIds[2], action: 'rollback' });
  });

  it('is a no-op for the published run and rolls forward to a newer one', async () => {
    const same = await cli(['publish', '--run', String(runIds[0]), '--json']);
    expect(same.code).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ runId: runIds[0], action: 'unchanged' });
    const forward = await cli(['publish', '--run', String(runIds[1]), '--json']);
    expect(JSON.parse(forward.stdout)).toMatchObject({ runId: runIds[1], previousRunId: runIds[0], action: 'publish' });
    expect((await served()).runs).toEqual([runIds[1]]);
  });

  it('refuses runs that do not exist or failed, with exit code 2 and what to do', async () => {
    const missing = await cli(['publish', '--run', '999999']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('batchcast: run 999999 does not exist; list runs with: batchcast runs');
    const failed = await cli(['publish', '--run', String(failedRunId)]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(
      new RegExp(
        `run ${failedRunId} \\(job ops, date ${badDate}\\) failed \\(.*not readable as Parquet.*\\); only a succeeded run can be published`,
      ),
    );
    expect((await served()).runs).toEqual([runIds[1]]);
  });

  it('exits 3 while a run of that date holds the lock', async () => {
    const holder = new pg.Client({ connectionString: t.url });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(hashtext('batchcast:' || $1), ($2::date - date '2000-01-01'))`, [fx.job, date]);
      const busy = await cli(['publish', '--run', String(runIds[2])]);
      expect(busy.code).toBe(3);
      expect(busy.stderr).toContain(`job ops, date ${date}: another run holds the lock`);
    } finally {
      await holder.end();
    }
    expect((await served()).runs).toEqual([runIds[1]]);
  });
});

describe('batchcast prune', () => {
  it('drops failed and surplus generations, keeps the published one, and pruned runs cannot be published', async () => {
    expect((await cli(['prune', '--keep', '0'])).code).toBe(2);
    const r = await cli(['prune', '--keep', '2', '--job', fx.job, '--json']);
    expect(r.code).toBe(0);
    // Kept for the date: the published run 2 and the newest other one, run 3; run 1 and the failed run go.
    expect(JSON.parse(r.stdout).dropped.sort()).toEqual([runIds[0], failedRunId].sort());
    expect(await served()).toEqual({ runs: [runIds[1]], rows: 300 * fx.k });

    const pruned = await cli(['publish', '--run', String(runIds[0])]);
    expect(pruned.code).toBe(2);
    expect(pruned.stderr).toMatch(new RegExp(`run ${runIds[0]} \\(job ops, date ${date}\\) was pruned at .* and its table is gone`));
    expect((await cli(['prune', '--keep', '2'])).stdout).toBe('nothing to prune\n');
  });
});
