// Retention by date: predict applies the job's retention.days after publishing, archiving each
// dropped date's published generation to Parquet first; `batchcast prune --older-than N` does the same by
// hand. Dropped dates are no longer served, kept dates are, archives read back with DuckDB.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datesBefore, writeSmallDates } from '../bench/small-dates.ts';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { retainDates } from '../src/retention/retain-dates.ts';
import { predict } from '../src/run/predict.ts';
import { listRuns } from '../src/store/ledger.ts';
import { lookupUsers } from '../src/store/lookup-users.ts';
import { migrate } from '../src/store/migrate.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
const newest = '2026-11-20';
const older = datesBefore(newest, 10); // 2026-11-10 .. 2026-11-19

let t: TestDb;
let fx: Fixture;
let config: Config;
let client: pg.Client;
const runOf = new Map<string, number>();

interface ServedRow {
  user_id: string;
  item_ids: string[];
  scores: number[];
}

/** What the view serves for a date, one row per user with arrays, as the archive stores it. */
async function servedByUser(date: string): Promise<ServedRow[]> {
  const { rows } = await t.db.pool.query<ServedRow>(
    `select user_id, array_agg(item_id order by rank) as item_ids, array_agg(score order by rank) as scores
       from batchcast.recommendations where job = $1 and prediction_date = $2 group by user_id order by user_id collate "C"`,
    [fx.job, date],
  );
  return rows.map((r) => ({ ...r, scores: r.scores.map(Math.fround) }));
}

interface ArchivedRow extends ServedRow {
  job: string;
  date: string;
  runId: number;
}

async function readArchive(file: string): Promise<ArchivedRow[]> {
  return withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(`SELECT job, prediction_date::VARCHAR AS date, run_id, user_id, item_ids, scores
                                          FROM read_parquet(${sqlString(file)}) ORDER BY user_id`);
    return r.getRowObjectsJS().map((o) => ({
      job: o.job as string,
      date: o.date as string,
      runId: Number(o.run_id),
      user_id: o.user_id as string,
      item_ids: o.item_ids as string[],
      scores: (o.scores as number[]).map(Math.fround),
    }));
  });
}

const pointers = async () =>
  (
    await t.db.pool.query<{ d: string }>('select prediction_date::text as d from batchcast.published where job = $1 order by 1', [fx.job])
  ).rows.map((r) => r.d);

beforeAll(async () => {
  t = await createTestDb('retention');
  fx = await makeFixture({
    name: 'daily',
    idType: 'string',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 40,
    dates: [newest],
    job: { retention: { keep: 2, days: 5, archive: 'data/archive/{job}/dt={date}.parquet' } },
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  await migrate(t.db.pool);
  client = new pg.Client({ connectionString: t.url });
  await client.connect();
  // ten earlier published dates, shaped as predict makes them, and an unpublished generation of the oldest
  const ids = await writeSmallDates(client, { job: fx.job, dates: older, users: 30, k: 5 });
  older.forEach((d, i) => runOf.set(d, ids[i]));
  await writeSmallDates(client, { job: fx.job, dates: [older[0]], users: 30, k: 5, finish: 'attached' });
}, 120_000);
afterAll(async () => {
  await client?.end();
  await t?.drop();
});

describe('retention by date', () => {
  it('predict drops the dates more than retention.days before the newest, archiving each first', async () => {
    const dropped = older.slice(0, 5); // 11-10 .. 11-14: more than 5 days before 11-20
    const kept = older.slice(5);
    const before = new Map(await Promise.all(dropped.map(async (d) => [d, await servedByUser(d)] as const)));
    // this connection has read the first date, so its lookup knows that run's table
    expect((await lookupUsers(client, fx.job, dropped[0], ['u1']))?.generation.runId).toBe(runOf.get(dropped[0]));

    const run = await predict({ job: fx.job, date: newest, config, db: t.db, log });

    expect(await pointers()).toEqual([...kept, newest]);
    for (const d of dropped) {
      const file = path.join(fx.root, 'data', 'archive', fx.job, `dt=${d}.parquet`);
      const archived = await readArchive(file);
      expect(archived.map(({ user_id, item_ids, scores }) => ({ user_id, item_ids, scores }))).toEqual(before.get(d));
      expect(new Set(archived.map((r) => `${r.job} ${r.date} ${r.runId}`))).toEqual(new Set([`${fx.job} ${d} ${runOf.get(d)}`]));
      expect((await servedByUser(d)).length).toBe(0);
    }
    // every run of a dropped date lost its table, kept its ledger row, marked pruned (and archived for the served one)
    const runs = await listRuns(t.db.pool, { job: fx.job, limit: 1000 });
    for (const r of runs.filter((x) => dropped.includes(x.prediction_date))) {
      expect(r.pruned_at).not.toBeNull();
      expect(r.archived_to).toBe(
        r.run_id === runOf.get(r.prediction_date) ? path.join(fx.root, 'data', 'archive', fx.job, `dt=${r.prediction_date}.parquet`) : null,
      );
      expect((await t.db.pool.query('select to_regclass($1) as t', [`batchcast.predictions_r${r.run_id}`])).rows[0].t).toBeNull();
    }
    expect(runs.filter((x) => x.prediction_date === older[0]).length).toBe(2);
    // kept dates are served by the view and the API; a dropped date is not, even to a connection that knew it
    for (const d of kept) expect((await servedByUser(d)).length).toBe(30);
    expect((await lookupUsers(client, fx.job, kept[0], ['u1']))?.generation.runId).toBe(runOf.get(kept[0]));
    expect((await lookupUsers(client, fx.job, null, ['nobody']))?.generation.runId).toBe(run.runId);
    expect(await lookupUsers(client, fx.job, dropped[0], ['u1'])).toBeUndefined();
  });

  it('an archive that cannot be written drops nothing', async () => {
    const bad = await retainDates(t.db, client, {
      job: fx.job,
      days: 3,
      archive: '/dev/null/cannot/{job}/{date}.parquet',
      memoryLimit: '128MB',
      archiveTimeoutMs: 60_000,
      lockTimeoutMs: 30_000,
    }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(bad?.message).toMatch(
      /date 2026-11-15, run \d+: archiving to \/dev\/null\/cannot\/daily\/2026-11-15.parquet failed.*nothing was dropped/,
    );
    expect(await pointers()).toEqual([...older.slice(5), newest]);
    expect((await servedByUser('2026-11-15')).length).toBe(30);
  });

  it("batchcast prune --older-than N does the same by hand, with the job file's archive, and runs shows it", async () => {
    const env = { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root };
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [bin, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
        );
      });
    const pruned = await run(['prune', '--older-than', '2', '--job', fx.job]);
    expect(pruned.stderr).not.toMatch(/error/i);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain(
      `job ${fx.job}, date 2026-11-17: archived run ${runOf.get('2026-11-17')} (30 rows) to ${path.join(fx.root, 'data', 'archive', fx.job, 'dt=2026-11-17.parquet')}`,
    );
    expect(pruned.stdout).toContain(`job ${fx.job}: keeps 3 published date(s), 2026-11-18 to ${newest}`);
    expect(await pointers()).toEqual(['2026-11-18', '2026-11-19', newest]);
    expect(existsSync(path.join(fx.root, 'data', 'archive', fx.job, 'dt=2026-11-15.parquet'))).toBe(true);

    const shown = await run(['runs', '--job', fx.job, '--date', '2026-11-17']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`${runOf.get('2026-11-17')}\\s.*archived`));
    const again = await run(['prune', '--older-than', '2', '--job', fx.job]);
    expect(again.stdout).toContain(`job ${fx.job}: keeps 3 published date(s)`);
    expect(again.stdout).not.toContain('archived');
    const none = await run(['prune']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--older-than');
  });
});
