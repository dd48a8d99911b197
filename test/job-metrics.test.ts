// Per-job batch metrics: pushed by real predict runs (the CLI) to a real Pushgateway, and served from the
// API's /metrics, both read back as Prometheus text and checked against the ledger.

import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import type { Comparison } from '../src/store/profiles.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { adminUrl, createTestDb, type TestDb } from './helpers.ts';
import { find, type Pushgateway, parseMetrics, type Sample, startPushgateway } from './pushgateway.ts';
import { runCli } from './run-cli.ts';
import { get, startTestServer } from './serve-helpers.ts';

const dates = ['2026-11-19', '2026-11-20'];
const heldDate = '2026-11-21'; // f0 exported x1000: held by the default gates (exit 6)
const missing = '2026-01-01'; // no partition: predict starts a run, finds no files, fails with exit 2
let t: TestDb;
let fx: Fixture;
let gw: Pushgateway;
const reader = `bc_metrics_reader_${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  t = await createTestDb('job_metrics');
  fx = await makeFixture({
    name: 'pushjob',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 300,
    items: 60,
    dates: [...dates, heldDate],
    filesPerDate: 1,
  });
  const held = fx.users.get(heldDate)!;
  const rows = held.ids.map((id, i) => ({ id, features: Array.from(held.features[i], (x, j) => (j === 0 ? x * 1000 : x)) }));
  await writeFeatures(path.join(fx.featuresDir, `dt=${heldDate}`, 'part-0.parquet'), rows, {
    idType: 'int',
    featureMode: 'columns',
    featureNames: fx.featureNames,
  });
  gw = await startPushgateway();
});
afterAll(async () => {
  await gw?.stop();
  await t?.drop();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${reader}`);
  } finally {
    await admin.end();
  }
});

const env = (extra: Record<string, string> = {}) => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, ...extra });
const job = { batchcast_job: 'pushjob' };
const one = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = find(samples, name, { ...job, ...labels });
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0].value;
};

async function ledger() {
  const {
    rows: [r],
  } = await t.db.pool.query(
    `select extract(epoch from max(finished_at) filter (where status = 'succeeded'))::float8 as last_success,
            count(*) filter (where status = 'failed')::int as failed, count(*) filter (where status = 'succeeded')::int as succeeded
       from batchcast.runs where job = 'pushjob'`,
  );
  return r as { last_success: number | null; failed: number; succeeded: number };
}

describe('predict pushes the job metrics to the Pushgateway', () => {
  it('a failed run pushes no last success; a success pushes it; a later held or failed run keeps it', async () => {
    const push = env({ BATCHCAST_PUSHGATEWAY_URL: gw.url });
    const failed = await runCli(['predict', '--job', 'pushjob', '--date', missing, '--json'], push);
    expect(failed.code).toBe(2);
    let m = await gw.scrape();
    expect(find(m, 'batchcast_job_last_success_timestamp_seconds', job)).toEqual([]);
    expect(one(m, 'batchcast_job_runs', { status: 'failed', job: 'batchcast' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_status', { status: 'failed' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_rows')).toBe(0);

    const ok = await runCli(['predict', '--job', 'pushjob', '--date', dates[0], '--json'], push);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('pushed to the Pushgateway (PUT, last success updated)');
    m = await gw.scrape();
    const first = one(m, 'batchcast_job_last_success_timestamp_seconds');
    expect(first).toBeCloseTo((await ledger()).last_success!, 3);
    expect(one(m, 'batchcast_job_last_run_rows')).toBe(300);
    expect(one(m, 'batchcast_job_last_run_status', { status: 'succeeded' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_duration_seconds')).toBeGreaterThan(0);
    expect(one(m, 'batchcast_job_runs', { status: 'succeeded' })).toBe(1);
    expect(one(m, 'batchcast_job_runs', { status: 'failed' })).toBe(1);

    // The second date through the flag instead of the environment; the guard compares it with the first.
    const second = await runCli(['predict', '--job', 'pushjob', '--date', dates[1], '--json', '--pushgateway-url', gw.url], env());
    expect(second.code).toBe(0);
    const runs = (await t.db.pool.query(`select run_id, prediction_date from batchcast.runs where status = 'succeeded' order by run_id`))
      .rows;
    const lastSuccess = one(await gw.scrape(), 'batchcast_job_last_success_timestamp_seconds');
    expect(lastSuccess).toBeGreaterThan(first);

    const held = await runCli(['predict', '--job', 'pushjob', '--date', heldDate, '--json'], push);
    expect(held.code).toBe(6);
    expect(held.stderr).toContain('POST, last success kept');
    m = await gw.scrape();
    expect(one(m, 'batchcast_job_last_success_timestamp_seconds')).toBe(lastSuccess);
    expect(one(m, 'batchcast_job_runs', { status: 'held' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_status', { status: 'held' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_rows')).toBe(300);

    const again = await runCli(['predict', '--job', 'pushjob', '--date', missing, '--json'], push);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('POST, last success kept');
    m = await gw.scrape();
    expect(one(m, 'batchcast_job_last_success_timestamp_seconds')).toBe(lastSuccess);
    expect(one(m, 'batchcast_job_runs', { status: 'failed' })).toBe(2);
    expect(one(m, 'batchcast_job_last_run_status', { status: 'failed' })).toBe(1);
    expect(one(m, 'batchcast_job_last_run_status', { status: 'succeeded' })).toBe(0);
    // the drift figures of the latest comparison went along: the held run's
    const heldRun = (await t.db.pool.query(`select run_id from batchcast.runs where status = 'held'`)).rows[0].run_id;
    const c = (
      await t.db.pool.query<{ comparison: Comparison }>('select comparison from batchcast.run_comparisons where run_id = $1', [heldRun])
    ).rows[0].comparison;
    expect(c.referenceRunId).toBe(runs[1].run_id);
    expect(one(m, 'batchcast_job_compared_run_id')).toBe(heldRun);
    expect(one(m, 'batchcast_job_max_feature_psi')).toBeGreaterThan(1);
    expect(one(m, 'batchcast_job_max_feature_psi')).toBeCloseTo(Math.max(...c.psi.map((p) => p.psi)), 9);
    expect(one(m, 'batchcast_job_overlap_at_k')).toBeCloseTo(c.meanOverlapAtK, 9);
    expect(one(m, 'batchcast_job_rank_biased_overlap')).toBeCloseTo(c.meanRbo, 9);
    expect(one(m, 'batchcast_job_item_js_distance')).toBeCloseTo(c.itemJsDistance, 9);
    expect(one(m, 'batchcast_job_drifted_feature_share')).toBeCloseTo(c.driftedFeatureShare, 9);
    expect(one(m, 'batchcast_job_users_ratio')).toBe(1);
  });

  it('an unknown job creates no group on the Pushgateway', async () => {
    const r = await runCli(['predict', '--job', 'nosuchjob', '--date', dates[0]], env({ BATCHCAST_PUSHGATEWAY_URL: gw.url }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('job nosuchjob has no run in the ledger: no metrics pushed');
    expect((await gw.scrape()).filter((s) => s.labels.batchcast_job === 'nosuchjob')).toEqual([]);
  });

  it('a Pushgateway that is down is logged and does not fail the run', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['predict', '--job', 'pushjob', '--date', dates[1], '--json'], env({ BATCHCAST_PUSHGATEWAY_URL: closed }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ job: 'pushjob', date: dates[1], rows: 300 });
    expect(r.stderr).toContain(`could not push the metrics of job pushjob to the Pushgateway at ${closed}`);
  });

  it('a malformed URL is bad input before anything runs', async () => {
    const r = await runCli(['predict', '--job', 'pushjob', '--date', dates[1]], env({ BATCHCAST_PUSHGATEWAY_URL: 'pushgateway:9091' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metrics.pushgatewayUrl="pushgateway:9091" must be an http:// or https:// URL');
  });
});

describe('serve /metrics has the job metrics, read from the ledger at scrape time', () => {
  it('as the schema owner: the same figures as the ledger, drift included', async () => {
    const server = await startTestServer(t.url, fx.root);
    try {
      const res = await get(server.url, '/metrics');
      expect(res.status).toBe(200);
      const m = parseMetrics(res.body);
      const l = await ledger();
      expect(find(m, 'batchcast_job_metrics_up')[0].value).toBe(1);
      expect(one(m, 'batchcast_job_last_success_timestamp_seconds')).toBeCloseTo(l.last_success!, 3);
      expect(one(m, 'batchcast_job_runs', { status: 'failed' })).toBe(l.failed);
      expect(one(m, 'batchcast_job_runs', { status: 'succeeded' })).toBe(l.succeeded);
      expect(one(m, 'batchcast_job_runs', { status: 'held' })).toBe(1);
      expect(one(m, 'batchcast_job_last_run_status', { status: 'succeeded' })).toBe(1);
      expect(one(m, 'batchcast_job_max_feature_psi')).toBeGreaterThanOrEqual(0);
      // a new run shows at the next scrape once the short cache has expired
      const before = one(m, 'batchcast_job_runs', { status: 'failed' });
      expect((await runCli(['predict', '--job', 'pushjob', '--date', missing], env())).code).toBe(2);
      await new Promise((r) => setTimeout(r, 5_200));
      const after = parseMetrics((await get(server.url, '/metrics')).body);
      expect(one(after, 'batchcast_job_runs', { status: 'failed' })).toBe(before + 1);
      expect(one(after, 'batchcast_job_last_run_status', { status: 'failed' })).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('with the database unreachable: /metrics still answers, batchcast_job_metrics_up 0 and no job series', async () => {
    const down = new URL(t.url);
    down.port = String(await freePort());
    const server = await startTestServer(down.toString(), fx.root, { statementTimeoutMs: 1_000 });
    try {
      const res = await get(server.url, '/metrics');
      expect(res.status).toBe(200);
      const m = parseMetrics(res.body);
      expect(find(m, 'batchcast_job_metrics_up')[0].value).toBe(0);
      expect(m.filter((s) => s.labels.batchcast_job !== undefined)).toEqual([]);
      expect(find(m, 'batchcast_http_requests_total').length).toBeGreaterThanOrEqual(0);
    } finally {
      await server.stop();
    }
  });

  it('as the read-only lookup role: the ledger figures and the drift figures', async () => {
    await t.db.pool.query(`create role ${reader} login password 'reader-pw'`);
    await t.db.pool.query('select batchcast.grant_lookup_access($1)', [reader]);
    const u = new URL(t.url);
    u.username = reader;
    u.password = 'reader-pw';
    const server = await startTestServer(u.toString(), fx.root);
    try {
      const m = parseMetrics((await get(server.url, '/metrics')).body);
      expect(find(m, 'batchcast_job_metrics_up')[0].value).toBe(1);
      expect(one(m, 'batchcast_job_last_success_timestamp_seconds')).toBeCloseTo((await ledger()).last_success!, 3);
      // granted by sql/007: profiles and comparisons hold aggregates only
      expect(find(m, 'batchcast_job_max_feature_psi', job)).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });
});
