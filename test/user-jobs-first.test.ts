// The user's own project first: the demo's job ships in the package's demo/ folder, not in jobs/, so
// `schedule` and `serve` act only on the user's jobs once there is one; `--job demo` still finds it.
// /readyz does not fail for a job that has never published and has no schedule.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { DEMO_JOB, listJobs, loadJob, projectJobs } from '../src/jobs/load-job.ts';
import { Scheduler } from '../src/schedule/scheduler.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { repo } from './run-cli.ts';
import { get, startTestServer } from './serve-helpers.ts';

let t: TestDb;
let fx: Fixture;

beforeAll(async () => {
  t = await createTestDb('user_jobs_first');
  fx = await makeFixture({
    name: 'shop',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 100,
    items: 40,
    dates: ['2026-11-20'],
    job: { schedule: { cron: '0 2 * * *', catchup_days: 3 } },
  });
  // A user's project as a clone leaves it: whatever the repository ships in jobs/, beside the user's job.
  if (existsSync(path.join(repo, 'jobs'))) cpSync(path.join(repo, 'jobs'), fx.jobsDir, { recursive: true });
});
afterAll(async () => {
  await t?.drop();
});

describe('the demo job beside a user job', () => {
  it('the repository ships no job in jobs/; the demo is found by name, and listed only while jobs/ is empty', () => {
    expect(listJobs(path.join(repo, 'jobs'))).toEqual([]);
    expect(projectJobs(path.join(repo, 'jobs'))).toEqual([DEMO_JOB]);
    expect(projectJobs(fx.jobsDir)).toEqual(['shop']);
    const demo = loadJob(fx.jobsDir, DEMO_JOB, fx.root);
    expect(demo.file).toBe(path.join(repo, 'demo', 'demo.json'));
    expect(demo.features.path).toBe(path.join(fx.root, 'data/demo/features/dt=*/*.parquet'));
  });

  it('schedule runs only the user job once it exists: no demo date runs or fails', async () => {
    const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
    const scheduler = new Scheduler({ config, db: t.db, log, wake: 'manual', clock: { now: () => new Date('2026-11-21T03:00:00Z') } });
    try {
      const passes = await scheduler.start();
      expect(passes.map((p) => p.job)).toEqual(['shop']);
      expect(passes[0].outcomes.map((o) => [o.date, o.status])).toContainEqual(['2026-11-20', 'succeeded']);
    } finally {
      await scheduler.stop();
    }
    const { rows } = await t.db.pool.query<{ job: string }>('select distinct job from batchcast.runs order by job');
    expect(rows.map((r) => r.job)).toEqual(['shop']);
  }, 120_000);
});

describe('/readyz with a job that has never published', () => {
  it('is ready when that job has no schedule, not when it has one; asked for by name it is not ready', async () => {
    const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
    delete job.schedule;
    writeFileSync(path.join(fx.jobsDir, 'fresh.json'), JSON.stringify({ ...job }));
    const server = await startTestServer(t.url, fx.root);
    try {
      // shop published 2026-11-20 in the test above; fresh has no schedule and never published
      const ready = await get(server.url, '/readyz');
      expect(ready.status, ready.body).toBe(200);
      expect(ready.json.jobs).toHaveProperty('shop');
      expect(ready.json.jobs).not.toHaveProperty('demo');
      expect((await get(server.url, '/readyz?job=fresh')).status).toBe(503);
      writeFileSync(path.join(fx.jobsDir, 'fresh.json'), JSON.stringify({ ...job, schedule: { cron: '0 2 * * *' } }));
      server.catalogue.reload();
      const scheduled = await get(server.url, '/readyz');
      expect(scheduled.status).toBe(503);
      expect(scheduled.json.reason).toBe('no published generation for fresh');
    } finally {
      await server.stop();
    }
  });
});
