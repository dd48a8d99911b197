// The default gates stay quiet on ordinary days: three consecutive demo days (`batchcast generate` data: the
// weather, temperature and weekday change every day) all publish with the demo job's file as it is.
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { generateDemo } from '../src/demo/generate.ts';
import { predict } from '../src/run/predict.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let t: TestDb;
let root: string;
let dates: string[];

beforeAll(async () => {
  t = await createTestDb('guard_demo');
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-guard-demo-'));
  mkdirSync(path.join(root, 'jobs'));
  copyFileSync(path.join(repo, 'demo', 'demo.json'), path.join(root, 'jobs', 'demo.json'));
  ({ dates } = await generateDemo({
    outDir: path.join(root, 'data', 'demo'),
    users: 20_000,
    items: 5_000,
    days: 3,
    endDate: '2026-11-20',
    k: 10,
    rowsPerFile: 1_000_000,
    seed: 7,
  }));
}, 120_000);
afterAll(async () => {
  await t?.drop();
});

it('three ordinary demo days all publish with the default gates', async () => {
  const config = loadConfig({ databaseUrl: t.url, root, workers: 1, intraOpThreads: 1 }, {});
  const statuses = [];
  for (const date of dates) {
    const r = await predict({ job: 'demo', date, config, db: t.db, log });
    statuses.push([date, r.status, r.guard.line ?? '']);
    expect(r.guard.verdicts.length).toBeGreaterThan(0);
  }
  expect(statuses).toEqual(dates.map((d) => [d, 'published', '']));
  // the days did change: the weather features drifted, and the gates still passed
  const { rows } = await t.db.pool.query<{ drifted: number }>(
    `select (comparison->>'driftedFeatureShare')::float8 as drifted from batchcast.run_comparisons order by run_id`,
  );
  expect(rows).toHaveLength(2);
  expect(rows.every((r) => r.drifted > 0)).toBe(true);
}, 180_000);
