// Faults during a run: SIGKILL at random points, a connection killed mid-COPY, the lock connection lost,
// PostgreSQL restarted mid-run, and a half-open connection. In every case the pointer never moves to an
// incomplete generation, the previous one keeps being served, and a rerun succeeds and cleans up.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { openDb } from '../src/db/connect.ts';
import { freePort, startEmbedded } from '../src/db/embedded.ts';
import { describeError, exitCodeOf } from '../src/errors.ts';
import { predict } from '../src/run/predict.ts';
import { listRuns } from '../src/store/ledger.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, startTestServer, type TestServer } from './serve-helpers.ts';
import { silentProxy } from './silent-proxy.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
const date = '2026-11-20';
const USERS = 20_000;
let t: TestDb;
let fx: Fixture;
let config: Config;
let api: TestServer;

beforeAll(async () => {
  t = await createTestDb('faults');
  // Big enough that a run spends a second or so streaming, so kills land in every stage.
  fx = await makeFixture({
    name: 'faults',
    idType: 'int',
    output: 'scores',
    featureMode: 'list',
    users: USERS,
    items: 300,
    inputSize: 16,
    dates: [date],
    filesPerDate: 3,
    batchSize: 256,
  });
  config = loadConfig({ databaseUrl: t.url, root: fx.root, chunkRows: 2048 }, {});
  await predict({ job: fx.job, date, config, db: t.db, log });
  api = await startTestServer(t.url, fx.root, { poolSize: 2 });
}, 180_000);
afterAll(async () => {
  await api?.stop();
  closeAgent();
  await t?.drop();
});

/** The lookup API answers from the published generation, complete. */
async function assertApiServes(runId: number) {
  const user = fx.users.get(date)!.ids[(Math.random() * USERS) | 0];
  const a = await get(api.url, `/v1/jobs/${fx.job}/users/${encodeURIComponent(user)}/recommendations`);
  expect(a.status).toBe(200);
  expect(a.json).toMatchObject({ run_id: runId, source: 'model' });
  expect(a.json.items).toHaveLength(fx.k);
}

/** What readers see: the published run, and that it is complete. */
async function assertServingComplete(db = t.db.pool) {
  const { rows } = await db.query(
    `select p.run_id, r.status, r.rows_written,
            (select count(*)::int from batchcast.predictions x where x.run_id = p.run_id) as stored,
            (select count(*)::int from batchcast.recommendations v where v.job = p.job and v.prediction_date = p.prediction_date) as served
       from batchcast.published p join batchcast.runs r using (run_id) where p.job = $1 and p.prediction_date = $2`,
    [fx.job, date],
  );
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ status: 'succeeded', rows_written: USERS, stored: USERS, served: USERS * fx.k });
  return rows[0].run_id as number;
}

function runChild(env: Record<string, string>, onLine?: (line: string, kill: () => void) => void) {
  const child = spawn(process.execPath, [bin, 'predict', '--job', fx.job, '--date', date, '--json'], {
    env: { ...process.env, BATCHCAST_ROOT: fx.root, DATABASE_URL: t.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    for (const line of d.toString().split('\n')) if (line) onLine?.(line, () => child.kill('SIGKILL'));
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

describe('SIGKILL of predict', () => {
  it('never publishes an incomplete generation, over 24 kills at random points and at each stage; a rerun cleans up', async () => {
    const stages = ['run \\d+ started', 'reading \\d+ users', 'indexed and attached; publishing'];
    // Random kill times are spread over how long a whole run takes on this machine, measured first on a warm
    // second run (the first one also migrates and warms caches, and a later run is faster: timed on the first,
    // half of the random kills landed after the run had finished).
    expect((await runChild({}).done).code).toBe(0);
    const t0 = performance.now();
    expect((await runChild({}).done).code).toBe(0);
    const runMs = performance.now() - t0;
    let published = await assertServingComplete();
    const outcomes: string[] = [];
    for (let trial = 0; trial < 24; trial++) {
      const stage = trial < 6 ? new RegExp(stages[trial % 3]) : undefined;
      const delay = runMs * (0.05 + Math.random() * 0.8);
      const { child, done } = runChild({}, (line, kill) => {
        if (stage?.test(line)) kill();
      });
      const timer = stage ? undefined : setTimeout(() => child.kill('SIGKILL'), delay);
      const r = await done;
      clearTimeout(timer);
      outcomes.push(r.signal ?? `exit ${r.code}`);
      const now = await assertServingComplete();
      await assertApiServes(now);
      if (now !== published) {
        // Killed after the publish committed: the new generation is complete, which assertServingComplete checked.
        published = now;
      }
    }
    // A kill can land after the run finished (then the new generation is published, and checked above).
    expect(outcomes.filter((o) => o === 'SIGKILL').length, outcomes.join(', ')).toBeGreaterThanOrEqual(12);

    // The killed runs are still marked running, some with tables; the next run takes over and cleans up.
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(await assertServingComplete()).toBe(r.runId);
    const runs = await listRuns(t.db.pool, { job: fx.job, date, limit: 100 });
    expect(runs.filter((x) => x.status === 'running')).toEqual([]);
    const { rows: leftovers } = await t.db.pool.query(
      `select r.run_id from batchcast.runs r where r.status = 'failed' and to_regclass('batchcast.predictions_r' || r.run_id) is not null`,
    );
    expect(leftovers).toEqual([]);
    const { rows: locks } = await t.db.pool.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and objsubid = 2
        and database = (select oid from pg_database where datname = current_database())`);
    expect(locks[0].n).toBe(0);
  }, 300_000);
});

/** Kills the backend of this test database whose application_name starts with `app`, once rows are flowing. */
async function terminateWhenStreaming(app: string) {
  let fired = false;
  return {
    onProgress: (p: { rowsWritten: number }) => {
      if (fired || p.rowsWritten === 0) return;
      fired = true;
      void t.db.pool.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name like $1`,
        [`${app}%`],
      );
    },
    fired: () => fired,
  };
}

describe('connections lost mid-run', () => {
  it('a write connection killed mid-COPY fails the run cleanly; the rerun has no duplicate rows', async () => {
    const before = await assertServingComplete();
    const hook = await terminateWhenStreaming('batchcast write');
    const err = await predict({ job: fx.job, date, config, db: t.db, log, onProgress: hook.onProgress }).then(
      () => undefined,
      (e) => e,
    );
    expect(hook.fired()).toBe(true);
    expect(err).toBeInstanceOf(Error);
    expect(exitCodeOf(err)).toBe(4);
    expect(await assertServingComplete()).toBe(before);
    const [failed] = await listRuns(t.db.pool, { job: fx.job, date, limit: 1 });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/terminat|Connection/i);
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(r.rows).toBe(USERS);
    expect(await assertServingComplete()).toBe(r.runId);
  });

  it('a run whose lock connection dropped aborts before publishing, and the lock is free for the next run', async () => {
    const before = await assertServingComplete();
    const hook = await terminateWhenStreaming('batchcast run');
    const err = await predict({ job: fx.job, date, config, db: t.db, log, onProgress: hook.onProgress }).then(
      () => undefined,
      (e) => e,
    );
    expect(hook.fired()).toBe(true);
    expect(describeError(err)).toMatch(/lock connection was lost.*not publishing/);
    expect(exitCodeOf(err)).toBe(4);
    expect(await assertServingComplete()).toBe(before);
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(await assertServingComplete()).toBe(r.runId);
  });
});

describe('PostgreSQL restarted mid-run', () => {
  it('predict exits with the infrastructure code, and after the restart a rerun succeeds and cleans up', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-restart-'));
    chmodSync(dir, 0o755);
    const cfg = { dataDir: path.join(dir, 'pg'), port: await freePort(), user: 'postgres', password: 'pw', startTimeoutMs: 60_000 };
    let server = await startEmbedded(cfg, () => {});
    try {
      const first = runChild({ DATABASE_URL: server.url });
      expect((await first.done).code).toBe(0);
      const killedServer = server;
      let stopping: Promise<void> | undefined;
      const { done } = runChild({ DATABASE_URL: server.url }, (line) => {
        if (!stopping && /reading \d+ users/.test(line)) stopping = killedServer.stop();
      });
      const r = await done;
      await stopping;
      expect(r.code, r.stderr.slice(-800)).toBe(4);
      expect(r.stderr).toMatch(/batchcast: .*(terminat|shut|Connection|connect)/i);
      server = await startEmbedded(cfg, () => {});
      const db = await openDb(loadConfig({ databaseUrl: server.url, root: fx.root }, {}));
      try {
        const rerun = await predict({ job: fx.job, date, config: loadConfig({ databaseUrl: server.url, root: fx.root }, {}), db, log });
        expect(await assertServingComplete(db.pool)).toBe(rerun.runId);
        const runs = await listRuns(db.pool, { job: fx.job, date });
        expect(runs.map((x) => x.status)).toEqual(['succeeded', 'failed', 'succeeded']);
        expect(runs[1].error).toMatch(/abandoned|terminat|shut/i);
      } finally {
        await db.close();
      }
    } finally {
      await server.stop();
    }
  }, 180_000);
});

describe('a half-open connection', () => {
  it('predict does not hang: the COPY stall or query timeout fires and says which', async () => {
    const before = await assertServingComplete();
    const proxy = await silentProxy(new URL(t.url));
    const cfg = loadConfig(
      { databaseUrl: proxy.url, root: fx.root, chunkRows: 2048, copyStallTimeoutMs: 1500, queryTimeoutMs: 3000, writeQueryTimeoutMs: 3000 },
      {},
    );
    const db = await openDb(cfg);
    const t0 = Date.now();
    try {
      const err = await predict({
        job: fx.job,
        date,
        config: cfg,
        db,
        log,
        onProgress: (p) => {
          if (p.rowsWritten > 0) proxy.goSilent();
        },
      }).then(
        () => undefined,
        (e) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(describeError(err)).toMatch(/COPY stall timeout fired|query timeout fired/);
      expect(exitCodeOf(err)).toBe(4);
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      proxy.close();
      await db.close().catch(() => {});
    }
    expect(await assertServingComplete()).toBe(before);
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(await assertServingComplete()).toBe(r.runId);
  }, 60_000);
});

describe('the API on a half-open connection', () => {
  it('does not hang: lookups answer 503 when their deadline fires, and the API serves again once the link is back', async () => {
    const run = await assertServingComplete();
    const proxy = await silentProxy(new URL(t.url));
    // memory off: this is the database path's deadline (serve-memory-outage.test.ts has the memory case)
    const server = await startTestServer(proxy.url, fx.root, { poolSize: 2, statementTimeoutMs: 500, memoryBudgetMb: 0 });
    try {
      const user = encodeURIComponent(fx.users.get(date)!.ids[0]);
      const target = `/v1/jobs/${fx.job}/users/${user}/recommendations`;
      expect((await get(server.url, target)).status).toBe(200);
      proxy.goSilent();
      const t0 = performance.now();
      const cut = await get(server.url, target);
      expect(performance.now() - t0).toBeLessThan(5_000);
      expect(cut.status).toBe(503);
      expect(cut.headers['retry-after']).toBe('1');
      expect(cut.body).not.toContain('postgres://');
      expect((await get(server.url, '/healthz')).status).toBe(200);
    } finally {
      await server.stop().catch(() => {});
      proxy.close();
    }
    await assertApiServes(run);
  }, 60_000);
});

describe('advisory lock holder dies', () => {
  it('the lock is released with the connection and the next run proceeds', async () => {
    const holder = new pg.Client({ connectionString: t.url });
    holder.on('error', () => {}); // its backend is terminated below
    await holder.connect();
    await holder.query(`select pg_advisory_lock(hashtext('batchcast:' || $1), ($2::date - date '2000-01-01'))`, [fx.job, date]);
    const busy = await predict({ job: fx.job, date, config, db: t.db, log }).then(
      () => undefined,
      (e) => e,
    );
    expect(exitCodeOf(busy)).toBe(3);
    await t.db.pool.query(`select pg_terminate_backend($1)`, [(holder as unknown as { processID: number }).processID]);
    await holder.end().catch(() => {});
    const r = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(await assertServingComplete()).toBe(r.runId);
  });
});
