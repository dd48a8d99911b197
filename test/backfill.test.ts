// `batchcast backfill` as people and cron run it (a child process), with real runs on a real PostgreSQL:
// a failing date in the middle does not stop the others, the table shows it and the exit code says so;
// a rerun skips what is published; an interrupted backfill resumes and every date ends published once.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipReason } from '../src/schedule/backfill.ts';
import { migrate } from '../src/store/migrate.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
let t: TestDb;

beforeAll(async () => {
  t = await createTestDb('backfill');
  await migrate(t.db.pool);
});
afterAll(async () => {
  await t?.drop();
});

function cli(fx: Fixture, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root }, timeout: 80_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function ledger(job: string): Promise<{ date: string; status: string; published: boolean; started: Date; finished: Date | null }[]> {
  const { rows } = await t.db.pool.query(
    `select r.prediction_date::text as date, r.status, p.run_id is not null as published, r.started_at as started, r.finished_at as finished
       from batchcast.runs r left join batchcast.published p on p.run_id = r.run_id
      where r.job = $1 order by r.prediction_date, r.run_id`,
    [job],
  );
  return rows;
}

const row = (stdout: string, date: string) =>
  stdout
    .split('\n')
    .find((l) => l.startsWith(date))
    ?.split(/\s{2,}/) ?? [];

describe('backfill with a failing date in the middle', () => {
  const dates = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20'];
  let fx: Fixture;
  let good: string;
  beforeAll(async () => {
    fx = await makeFixture({ name: 'gaps', idType: 'int', output: 'top_k', featureMode: 'columns', users: 300, items: 50, dates });
    good = path.join(fx.root, 'part-0.good');
    const bad = path.join(fx.featuresDir, 'dt=2026-11-18', 'part-0.parquet');
    copyFileSync(bad, good);
    writeFileSync(bad, 'this is not parquet');
  });

  it("runs the others, prints the table and exits with the failed date's code", async () => {
    const r = await cli(fx, ['backfill', '--job', fx.job, '--from', dates[0], '--to', dates[4], '--concurrency', '2']);
    expect(r.code).toBe(2); // the only failure is bad input
    expect(r.stdout).toMatch(/^date\s+status\s+run\s+rows\s+seconds\s+note$/m);
    for (const d of ['2026-11-16', '2026-11-17', '2026-11-19', '2026-11-20'])
      expect(row(r.stdout, d).slice(0, 4)).toEqual([d, 'succeeded', expect.stringMatching(/^\d+$/), '300']);
    expect(row(r.stdout, '2026-11-18')[1]).toBe('failed');
    expect(r.stdout).toMatch(/not readable as Parquet/);
    expect(r.stdout).toMatch(/5 date\(s\): 4 succeeded, 1 failed; .* exit code 2/);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'batchcast: 1 of 5 date(s) not done: 2026-11-18 (failed, exit 2); rerun the same command to retry them',
    );

    const runs = await ledger(fx.job);
    expect(runs.map((x) => [x.date, x.status, x.published])).toEqual([
      ['2026-11-16', 'succeeded', true],
      ['2026-11-17', 'succeeded', true],
      ['2026-11-18', 'failed', false],
      ['2026-11-19', 'succeeded', true],
      ['2026-11-20', 'succeeded', true],
    ]);
    // Never more than 2 runs at once: at the moment each run started, at most 2 were running (itself included).
    // (Counting every run that overlaps a long one would also count two that ran one after the other beside it.)
    for (const x of runs)
      expect(runs.filter((y) => y.started <= x.started && (y.finished ?? new Date()) > x.started).length).toBeLessThanOrEqual(2);
  });

  it('a rerun skips the published dates and retries only the failed one', async () => {
    const plan = await cli(fx, ['backfill', '--job', fx.job, '--from', dates[0], '--to', dates[4], '--dry-run', '--backwards', '--json']);
    expect(plan.code).toBe(0);
    const planned = JSON.parse(plan.stdout) as { dates: { date: string; status: string }[] };
    expect(planned.dates.map((d) => [d.date, d.status])).toEqual([
      ['2026-11-20', 'skipped'],
      ['2026-11-19', 'skipped'],
      ['2026-11-18', 'planned'],
      ['2026-11-17', 'skipped'],
      ['2026-11-16', 'skipped'],
    ]);

    copyFileSync(good, path.join(fx.featuresDir, 'dt=2026-11-18', 'part-0.parquet'));
    const r = await cli(fx, ['backfill', '--job', fx.job, '--from', dates[0], '--to', dates[4], '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { exitCode: number; dates: { date: string; status: string; rows?: number }[] };
    expect(out.exitCode).toBe(0);
    expect(out.dates.map((d) => [d.date, d.status])).toEqual(dates.map((d) => [d, d === '2026-11-18' ? 'succeeded' : 'skipped']));
    expect((await ledger(fx.job)).filter((x) => x.published).map((x) => x.date)).toEqual(dates);
  });

  it('rejects bad arguments with exit code 2', async () => {
    const swapped = await cli(fx, ['backfill', '--job', fx.job, '--from', dates[4], '--to', dates[0]]);
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toContain('--from 2026-11-20 is after --to 2026-11-16; swap them');
    const mode = await cli(fx, ['backfill', '--job', fx.job, '--from', dates[0], '--to', dates[0], '--reprocess', 'some']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/--reprocess.*Allowed choices are none, failed, all/);
  });
});

describe('--reprocess', () => {
  const published = { date: '2026-11-20', publishedRunId: 7, publishedModel: 'v2', lastRunId: 7, lastStatus: 'succeeded' as const };
  it('none skips only dates published with the same model version', () => {
    expect(skipReason(published, 'v2', 'none')).toBe('published as run 7 with model v2');
    expect(skipReason(published, 'v3', 'none')).toBeUndefined();
    expect(skipReason({ ...published, publishedRunId: null, publishedModel: null }, 'v2', 'none')).toBeUndefined();
  });
  it('failed also reruns dates whose newest run failed; all reruns everything', () => {
    const laterFailed = { ...published, lastRunId: 9, lastStatus: 'failed' as const };
    expect(skipReason(laterFailed, 'v2', 'none')).toBeDefined();
    expect(skipReason(laterFailed, 'v2', 'failed')).toBeUndefined();
    expect(skipReason(published, 'v2', 'failed')).toBeDefined();
    expect(skipReason(published, 'v2', 'all')).toBeUndefined();
  });
});

describe('interrupt and resume', () => {
  it('SIGTERM stops the runs cleanly; the rerun skips what was published; every date ends published once', async () => {
    const dates = ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13', '2026-11-14', '2026-11-15'];
    // 20,000 users: runs of about a second, so the signal lands in the middle of one.
    const fx = await makeFixture({
      name: 'resume',
      idType: 'int',
      output: 'top_k',
      featureMode: 'columns',
      users: 20_000,
      items: 50,
      dates,
    });
    const args = ['backfill', '--job', fx.job, '--from', dates[0], '--to', dates[5], '--json'];
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const end = Date.now() + 60_000;
    for (;;) {
      const runs = await ledger(fx.job);
      if (runs.filter((x) => x.published).length >= 2 && runs.some((x) => x.status === 'running')) break;
      if (Date.now() > end) throw new Error('backfill did not get going');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(1); // interrupted: not done
    const first = JSON.parse(stdout) as { dates: { date: string; status: string }[] };
    const done = first.dates.filter((d) => d.status === 'succeeded').map((d) => d.date);
    expect(done.length).toBeGreaterThanOrEqual(2);
    expect(first.dates.filter((d) => d.status === 'interrupted').length).toBeGreaterThanOrEqual(1);
    // The run that was stopped published nothing and is marked failed, not left running.
    expect((await ledger(fx.job)).filter((x) => x.status === 'running')).toEqual([]);

    const again = await cli(fx, args);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as { dates: { date: string; status: string }[] };
    expect(second.dates.filter((d) => d.status === 'skipped').map((d) => d.date)).toEqual(done);
    expect(second.dates.every((d) => d.status === 'skipped' || d.status === 'succeeded')).toBe(true);

    const runs = await ledger(fx.job);
    for (const date of dates) expect(runs.filter((x) => x.date === date && x.status === 'succeeded').length, date).toBe(1);
    expect(runs.filter((x) => x.published).map((x) => x.date)).toEqual(dates);
  }, 90_000);
});
