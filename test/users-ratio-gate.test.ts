// The users-ratio gates on a real PostgreSQL, DuckDB and ONNX Runtime: a day that lost more than 10% of the
// users, or gained more than 50%, is held by default (a partial or a doubled upstream export); a day that
// lost 7% publishes; both bounds are the job's to set. And the demo's 30 ordinary days stay inside them.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { generateDemo } from '../src/demo/generate.ts';
import { rng } from '../src/demo/random.ts';
import { parseJob } from '../src/jobs/load-job.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { predict } from '../src/run/predict.ts';
import { type Fixture, makeFixture, userIdFor, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const [d1, d2, d3, d4] = ['2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22'];
let t: TestDb;
let fx: Fixture;

/** Rewrites `date`'s partition with users 0..n-1 (the fixture's 600, then new ones). */
async function writeUsers(date: string, n: number): Promise<void> {
  const known = fx.users.get(date)!;
  const next = rng(4242);
  const rows = Array.from({ length: n }, (_, i) => ({
    id: userIdFor('int', i),
    features: i < known.ids.length ? Array.from(known.features[i]) : fx.featureNames.map(() => next() * 2 - 1),
  }));
  const opts = { idType: 'int' as const, featureMode: 'columns' as const, featureNames: fx.featureNames };
  await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, 'part-0.parquet'), rows, opts);
  await writeFeatures(path.join(fx.featuresDir, `dt=${date}`, 'part-1.parquet'), [], opts);
}

const run = (date: string) =>
  predict({
    job: fx.job,
    date,
    config: loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {}),
    db: t.db,
    log,
  });

beforeAll(async () => {
  t = await createTestDb('users_ratio');
  fx = await makeFixture({
    name: 'ratio',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 600,
    items: 60,
    dates: [d1, d2, d3, d4],
  });
  expect((await run(d1)).status).toBe('published');
}, 120_000);
afterAll(async () => {
  await t?.drop();
});

describe('users ratio', () => {
  it('a day that lost 12% of the users is held by min_users_ratio (default 0.9)', async () => {
    await writeUsers(d2, 528);
    const r = await run(d2);
    expect(r.status).toBe('held');
    expect(r.guard.failed.map((g) => g.gate)).toEqual(['min_users_ratio']);
    expect(r.guard.line).toMatch(/gate min_users_ratio = 0\.88, threshold 0\.9/);
  }, 60_000);

  it('a day that gained 52% is held by max_users_ratio (default 1.5)', async () => {
    await writeUsers(d3, 912);
    const r = await run(d3);
    expect(r.status).toBe('held');
    expect(r.guard.failed.map((g) => g.gate)).toEqual(['max_users_ratio']);
    expect(r.guard.line).toMatch(/gate max_users_ratio = 1\.52, threshold 1\.5/);
  }, 60_000);

  it('a day that lost 7% publishes', async () => {
    await writeUsers(d4, 558);
    const r = await run(d4);
    expect(r.guard.line ?? '').toBe('');
    expect(r.status).toBe('published');
  }, 60_000);

  it('both bounds are set in the job file; null switches one off', async () => {
    const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
    writeFileSync(fx.jobFile, JSON.stringify({ ...job, gates: { min_users_ratio: 0.5, max_users_ratio: null } }));
    try {
      const lost = await run(d2); // 528 of d1's 600
      expect(lost.status).toBe('published');
      const gained = await run(d3); // 912 against d2's 528: x1.73
      expect(gained.guard.comparison!.usersRatio).toBeCloseTo(912 / 528, 10);
      expect(gained.status).toBe('published');
      expect(gained.guard.verdicts.map((v) => v.gate)).not.toContain('max_users_ratio');
    } finally {
      writeFileSync(fx.jobFile, JSON.stringify(job));
    }
    expect(() => parseJob('x/ratio.json', JSON.stringify({ ...job, gates: { max_users_ratio: 0.8 } }), fx.root)).toThrow(
      /gates\.max_users_ratio/,
    );
    // min above max would hold every run: refused when the job is read, against a default bound too
    const bounds = (gates: object) => () => parseJob('x/ratio.json', JSON.stringify({ ...job, gates }), fx.root);
    expect(bounds({ min_users_ratio: 1.2, max_users_ratio: 1.1 })).toThrow(
      /job file x\/ratio\.json: field "gates\.min_users_ratio" \(1\.2\) is above "gates\.max_users_ratio" \(1\.1\)/,
    );
    expect(bounds({ min_users_ratio: 2 })).toThrow(/\(2\) is above "gates\.max_users_ratio" \(1\.5\)/);
    expect(bounds({ min_users_ratio: 2, max_users_ratio: null })).not.toThrow();
    expect(bounds({ min_users_ratio: 1.5 })).not.toThrow();
  }, 120_000);
});

it('30 ordinary demo days: the day-over-day users ratio stays inside both default bounds', async () => {
  const root = path.join(os.tmpdir(), `batchcast-ratio-demo-${process.pid}`);
  const { dates } = await generateDemo({
    outDir: root,
    users: 2_000,
    items: 200,
    days: 30,
    endDate: '2026-11-30',
    k: 10,
    rowsPerFile: 1_000_000,
    seed: 7,
  });
  // the users a run scores: rows with an id and every feature finite (what bad_rows would skip otherwise)
  const counts = await withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(
      `select dt::varchar, count(*)::int from read_parquet(${sqlString(`${root}/features/dt=*/*.parquet`)}, hive_partitioning = true)
        where user_id is not null group by dt order by dt`,
    );
    return r.getRows().map(([, n]) => Number(n));
  });
  expect(counts).toHaveLength(dates.length);
  const ratios = counts.slice(1).map((n, i) => n / counts[i]);
  const demo = parseJob('demo/demo.json', readFileSync(path.join(import.meta.dirname, '..', 'demo', 'demo.json'), 'utf8'), root);
  const [lo, hi] = [Math.min(...ratios), Math.max(...ratios)];
  expect(lo).toBeGreaterThanOrEqual(demo.gates.minUsersRatio!);
  expect(hi).toBeLessThanOrEqual(demo.gates.maxUsersRatio!);
  expect([lo, hi]).toEqual([1, 1]); // the demo's user base is the same every day
  rmSync(root, { recursive: true, force: true });
}, 120_000);
