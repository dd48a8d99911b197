// One date in N shards (predict --shard I/N), as real processes: the shards publish exactly what one
// unsharded run publishes, once; a killed shard blocks the publish until its index is rerun; a twin pod of
// one index does nothing; a shard count that disagrees with the generation in progress is refused.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { generationSource } from '../src/store/run-tables.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
const date = '2026-11-20';
const USERS = 6_000;
let t: TestDb;
let fx: Fixture;
let config: Config;
let single: Map<string, string>;

beforeAll(async () => {
  t = await createTestDb('shards');
  // String ids: the shard function hashes the id's text, the case where systems most easily disagree.
  fx = await makeFixture({
    name: 'shards',
    idType: 'string',
    output: 'scores',
    featureMode: 'list',
    users: USERS,
    items: 200,
    inputSize: 8,
    dates: [date],
    filesPerDate: 2,
    batchSize: 256,
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, chunkRows: 1024 }, {});
  const r = await predict({ job: fx.job, date, config, db: t.db, log });
  single = await rowsOf(r.runId);
  expect(single.size).toBe(USERS);
}, 180_000);
afterAll(async () => {
  await t?.drop();
});

/** Every row of a run as user -> "items|scores", item ids decoded whatever the run's format (generationSource). */
async function rowsOf(runId: number): Promise<Map<string, string>> {
  const { rows } = await t.db.pool.query<{ user_id: string; item_ids: string[]; scores: number[] }>(
    `select user_id, item_ids, scores from ${generationSource(runId)}`,
  );
  return new Map(rows.map((r) => [r.user_id, `${r.item_ids.join(',')}|${r.scores.join(',')}`]));
}

async function publishedRun(): Promise<number> {
  const { rows } = await t.db.pool.query('select run_id from batchcast.published where job = $1 and prediction_date = $2', [fx.job, date]);
  return Number(rows[0].run_id);
}

function runCli(args: string[], onLine?: (line: string, kill: () => void) => void, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, BATCHCAST_ROOT: fx.root, DATABASE_URL: t.url, BATCHCAST_WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    for (const line of d.toString().split('\n')) if (line) onLine?.(line, () => child.kill('SIGKILL'));
  });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout })),
  );
}

const shard = (spec: string, onLine?: (line: string, kill: () => void) => void, env?: Record<string, string>) =>
  runCli(['predict', '--job', fx.job, '--date', date, '--shard', spec, '--json'], onLine, env);

async function expectPublishedLikeSingle(runId: number) {
  const { rows } = await t.db.pool.query('select status, shards, rows_written from batchcast.runs where run_id = $1', [runId]);
  expect(rows[0]).toMatchObject({ status: 'succeeded', shards: 4, rows_written: USERS });
  const sharded = await rowsOf(runId);
  expect(sharded.size).toBe(USERS);
  let differ = 0;
  for (const [user, v] of single) if (sharded.get(user) !== v) differ++;
  expect(differ).toBe(0);
  const { rows: log } = await t.db.pool.query('select count(*)::int as n from batchcast.publish_log where run_id = $1', [runId]);
  expect(log[0].n).toBe(1); // published once
  const { rows: left } = await t.db.pool.query(
    `select count(*)::int as n from pg_tables where schemaname = 'batchcast' and tablename like $1`,
    [`predictions_r${runId}_s%`],
  );
  expect(left[0].n).toBe(0); // the shard tables are merged and dropped
}

describe('predict --shard', () => {
  it('4 shard processes in parallel publish exactly the rows of a single run, once', async () => {
    const before = await publishedRun();
    // as the Indexed Job runs them: the Job's uid in BATCHCAST_GENERATION_KEY
    const key = { BATCHCAST_GENERATION_KEY: 'job-uid-1' };
    const results = await Promise.all([0, 1, 2, 3].map((i) => shard(`${i}/4`, undefined, key)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const runId = await publishedRun();
    expect(runId).not.toBe(before);
    expect(results.filter((r) => /published: \d+ rows from 4 shards/.test(r.stderr))).toHaveLength(1);
    await expectPublishedLikeSingle(runId);
    const { rows } = await t.db.pool.query(
      'select shard, status, rows_written::int as n from batchcast.run_shards where run_id = $1 order by shard',
      [runId],
    );
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(rows.reduce((a, r) => a + r.n, 0)).toBe(USERS);
    for (const r of rows) expect(r.n).toBeGreaterThan(USERS / 8); // every shard got a share

    // Kubernetes retries an index of that Job after the generation was published: nothing new is started.
    const count = async () => (await t.db.pool.query('select count(*)::int as n from batchcast.runs')).rows[0].n as number;
    const runsBefore = await count();
    const late = await shard('2/4', undefined, key);
    expect(late.code, late.stderr).toBe(0);
    expect(late.stderr).toMatch(new RegExp(`shard 2/4 of run ${runId} already succeeded .* not redoing it`));
    expect(await count()).toBe(runsBefore);
    expect(await publishedRun()).toBe(runId);
  }, 180_000);

  it('a SIGKILLed shard blocks the publish; a disagreeing count is refused; rerunning the index completes it', async () => {
    const before = await publishedRun();
    const results = await Promise.all([
      ...[0, 1, 2].map((i) => shard(`${i}/4`)),
      shard('3/4', (line, kill) => {
        if (/reading \d+ users/.test(line)) kill();
      }),
    ]);
    expect(results[3].signal).toBe('SIGKILL');
    for (const r of results.slice(0, 3)) expect(r.code, r.stderr).toBe(0);
    expect(await publishedRun()).toBe(before); // not published: shard 3 is missing
    // What a kill mid-COPY leaves at worst: committed rows of the dead shard in its own table (one COPY per
    // connection commits on its own). Its rerun must throw them away, or the merged generation would have them.
    const { rows: inProgress } = await t.db.pool.query(`select run_id from batchcast.runs where shards = 4 and status = 'running'`);
    expect(inProgress).toHaveLength(1);
    const dead = `batchcast.predictions_r${inProgress[0].run_id}_s3`;
    // The dead shard may or may not have made its table before the kill (it depends on how far it got on a
    // busy machine): make it if missing, in the shape shard tables have, then leave junk rows in it.
    await t.db.pool.query(`create table if not exists ${dead} as select user_id, item_idx, scores from batchcast.predictions with no data`);
    await t.db.pool.query(`insert into ${dead} (user_id, item_idx, scores) values ('not-a-user', '{0}', '{1}'), ($1, '{0}', '{1}')`, [
      [...single.keys()][0],
    ]);

    const runs = await runCli(['runs', '--job', fx.job, '--date', date]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toMatch(/running 3\/4 shards/);

    const wrong = await shard('0/3');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/generation of 4 shards still in progress, not 3; run its missing shards with --shard I\/4/);

    const rerun = await shard('3/4');
    expect(rerun.code, rerun.stderr).toBe(0);
    const runId = await publishedRun();
    expect(runId).not.toBe(before);
    await expectPublishedLikeSingle(runId);
    const { rows } = await t.db.pool.query('select attempts from batchcast.run_shards where run_id = $1 and shard = 3', [runId]);
    expect(rows[0].attempts).toBe(2);
  }, 180_000);

  it('a shard started twice does its work once, and the generation is published once', async () => {
    const results = await Promise.all([shard('0/4'), shard('1/4'), shard('1/4'), shard('2/4'), shard('3/4')]);
    const twins = [results[1], results[2]];
    // one twin scored; the other found the shard locked (exit 3), or already succeeded (exit 0, nothing redone;
    // exit 3 if it then found the finisher at work on the generation)
    expect(twins.filter((r) => /shard 1\/4 of run \d+ succeeded/.test(r.stderr))).toHaveLength(1);
    const other = twins.find((r) => !/shard 1\/4 of run \d+ succeeded/.test(r.stderr))!;
    if (other.code === 3)
      expect(other.stderr).toMatch(/shard 1\/4 of run \d+ is being scored by another process|another run holds the lock/);
    else {
      expect(other.code, other.stderr).toBe(0);
      expect(other.stderr).toMatch(/already succeeded .* not redoing it/);
    }
    for (const r of [results[0], results[3], results[4]]) expect(r.code, r.stderr).toBe(0);
    const runId = await publishedRun();
    await expectPublishedLikeSingle(runId);

    // A pod restarted while the generation is still in progress, after its shard succeeded: exit 0, nothing redone.
    // (After the publish a rerun starts a new generation: see docs/reliability.md.)
    const first = await Promise.all([shard('0/4'), shard('1/4')]);
    for (const r of first) expect(r.code, r.stderr).toBe(0);
    const again = await shard('0/4');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/shard 0\/4 of run \d+ already succeeded .* not redoing it/);
    const rest = await Promise.all([shard('2/4'), shard('3/4')]);
    for (const r of rest) expect(r.code, r.stderr).toBe(0);
    const last = await publishedRun();
    expect(last).not.toBe(runId);
    await expectPublishedLikeSingle(last);
  }, 240_000);
});
