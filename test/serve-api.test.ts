// The lookup API against a real generation (fixture -> predict -> publish), served through a read-only
// role: answers equal the view, every bad parameter is a 400 naming it, unknown users are 404 or the
// fallback, ETags give 304, and the operational endpoints answer.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { adminUrl, createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, rawStatus, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let fallbackRunId: number;
let server: TestServer;
const reader = `bc_reader_${Math.random().toString(36).slice(2, 8)}`;
let readerUrl: string;

beforeAll(async () => {
  t = await createTestDb('serve_api');
  pub = await publishFixture(t, { name: 'lookup' });
  // A second job over the same data that declares a fallback.
  const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
  writeFileSync(path.join(pub.fx.jobsDir, 'lookup_fb.json'), JSON.stringify({ ...job, fallback: true }));
  const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  fallbackRunId = (await predict({ job: 'lookup_fb', date: pub.date, config, db: t.db, log })).runId;
  await t.db.pool.query(`create role ${reader} login password 'reader-pw'`);
  await t.db.pool.query('select batchcast.grant_lookup_access($1)', [reader]);
  const u = new URL(t.url);
  u.username = reader;
  u.password = 'reader-pw';
  readerUrl = u.toString();
  server = await startTestServer(readerUrl, pub.fx.root);
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${reader}`);
  } finally {
    await admin.end();
  }
});

const lookup = (job: string, user: string, query = '') => `/v1/jobs/${job}/users/${encodeURIComponent(user)}/recommendations${query}`;

describe('lookups', () => {
  it('answer exactly what the view holds, for every user, through the read-only role', async () => {
    const { rows } = await t.db.pool.query<{
      user_id: string;
      rank: number;
      item_id: string;
      score: number;
      run_id: number;
      model_version: string;
    }>(
      `select user_id, rank, item_id, score, run_id, model_version from batchcast.recommendations
        where job = 'lookup' and prediction_date = $1 order by user_id, rank`,
      [pub.date],
    );
    const byUser = new Map<string, typeof rows>();
    for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
    expect(byUser.size).toBe(200);
    for (const [user, want] of byUser) {
      const a = await get(server.url, lookup('lookup', user));
      expect(a.status, user).toBe(200);
      expect(a.json).toMatchObject({
        job: 'lookup',
        user_id: user,
        prediction_date: pub.date,
        run_id: pub.runId,
        model_version: want[0].model_version,
        source: 'model',
      });
      expect(a.json.items).toEqual(want.map((r) => ({ item_id: r.item_id, score: r.score, rank: r.rank })));
      expect(Date.parse(a.json.generated_at)).toBeGreaterThan(Date.parse('2026-01-01'));
    }
    const some = [...byUser.keys()][7];
    const k2 = await get(server.url, lookup('lookup', some, `?k=2&date=${pub.date}`));
    expect(k2.json.items).toEqual(
      byUser
        .get(some)!
        .slice(0, 2)
        .map((r) => ({ item_id: r.item_id, score: r.score, rank: r.rank })),
    );
  });

  it('sends an ETag and Cache-Control from the run id, and 304 for If-None-Match', async () => {
    const user = pub.fx.users.get(pub.date)!.ids[3];
    const a = await get(server.url, lookup('lookup', user));
    expect(a.headers.etag).toBe(`"r${pub.runId}"`);
    expect(a.headers['cache-control']).toBe('private, max-age=60');
    for (const inm of [`"r${pub.runId}"`, `W/"r${pub.runId}"`, `"x", "r${pub.runId}"`, '*']) {
      const b = await get(server.url, lookup('lookup', user), { 'if-none-match': inm });
      expect(b.status, inm).toBe(304);
      expect(b.body).toBe('');
      expect(b.headers.etag).toBe(`"r${pub.runId}"`);
    }
    expect((await get(server.url, lookup('lookup', user), { 'if-none-match': `"r${pub.runId + 1000}"` })).status).toBe(200);
  });

  it('answers 404 naming the user, or the fallback when the job declares one', async () => {
    const miss = await get(server.url, lookup('lookup', 'nobody-here'));
    expect(miss.status).toBe(404);
    expect(miss.json).toMatchObject({ error: 'user_not_found', user_id: 'nobody-here', run_id: pub.runId });
    expect(miss.json.message).toContain('"nobody-here" has no recommendations in job lookup');

    const {
      rows: [run],
    } = await t.db.pool.query('select fallback_item_ids, fallback_scores from batchcast.runs where run_id = $1', [fallbackRunId]);
    const fb = await get(server.url, lookup('lookup_fb', 'nobody-here'));
    expect(fb.status).toBe(200);
    expect(fb.json).toMatchObject({ job: 'lookup_fb', user_id: 'nobody-here', run_id: fallbackRunId, source: 'fallback' });
    expect(fb.json.items).toEqual(
      run.fallback_item_ids.map((id: string, i: number) => ({ item_id: id, score: run.fallback_scores[i], rank: i + 1 })),
    );
    expect(fb.headers.etag).toBe(`"r${fallbackRunId}-fallback"`);
    expect((await get(server.url, lookup('lookup_fb', 'nobody-here', '?k=1'))).json.items).toHaveLength(1);
    // A known user of the fallback job still gets the model's items.
    expect((await get(server.url, lookup('lookup_fb', pub.fx.users.get(pub.date)!.ids[0]))).json.source).toBe('model');

    const noGen = await get(server.url, lookup('lookup', 'nobody-here', '?date=2026-11-21'));
    expect(noGen.status).toBe(404);
    expect(noGen.json).toMatchObject({ error: 'generation_not_found', message: 'job lookup has no published generation for 2026-11-21' });
  });

  it('answers 400 naming the parameter for every kind of bad input', async () => {
    const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0]);
    const cases: [string, string][] = [
      ['/v1/jobs/nope/users/u1/recommendations', 'job'],
      ['/v1/jobs/Bad%20Job/users/u1/recommendations', 'job'],
      ['/v1/jobs/%zz/users/u1/recommendations', 'job'],
      ['/v1/jobs/lookup/users//recommendations', 'user_id'],
      ['/v1/jobs/lookup/users/%ff%fe/recommendations', 'user_id'],
      ['/v1/jobs/lookup/users/a%00b/recommendations', 'user_id'],
      [`/v1/jobs/lookup/users/${'x'.repeat(257)}/recommendations`, 'user_id'],
      [`/v1/jobs/lookup/users/${user}/recommendations?date=yesterday`, 'date'],
      [`/v1/jobs/lookup/users/${user}/recommendations?date=2026-02-30`, 'date'],
      [`/v1/jobs/lookup/users/${user}/recommendations?date=`, 'date'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=0`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=-1`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=1.5`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=abc`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=1001`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?k=6`, 'k'], // stored K is 5
      [`/v1/jobs/lookup/users/${user}/recommendations?k=1&k=2`, 'k'],
      [`/v1/jobs/lookup/users/${user}/recommendations?limit=3`, 'query'],
    ];
    for (const [target, parameter] of cases) {
      const a = await get(server.url, target);
      expect(a.status, target).toBe(400);
      expect(a.json, target).toMatchObject({ error: 'bad_request', parameter });
      expect(a.json.message, target).toMatch(
        parameter === 'user_id' ? /user_id/ : new RegExp(parameter === 'query' ? 'query parameter' : parameter),
      );
    }
  });

  it('limits request sizes and methods without a 5xx', async () => {
    expect((await get(server.url, `/v1/jobs/lookup/users/${'a'.repeat(5000)}/recommendations`)).status).toBe(414);
    expect(await rawStatus(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')).toBe(413);
    expect(await rawStatus(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`)).toBe(431);
    expect(
      await rawStatus(
        server.port,
        'POST /v1/jobs/lookup/users/u1/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n',
      ),
    ).toBe(405);
    expect((await get(server.url, '/v2/whatever')).status).toBe(404);
    // Near misses of the lookup's path are no lookup: 404 not_found, not a 400 about a parameter.
    for (const near of [
      '/v1/jobs/lookup/users/recommendations',
      '/v1/jobs/lookup/users/a/b/recommendations',
      '/v1/jobs/lookup/user/a/recommendations',
      '/v1/jobs/lookup/users/a/recommendations/',
      '/v1/jobs/lookup/users/a/recommendation',
    ]) {
      const a = await get(server.url, near);
      expect([a.status, a.json.error], near).toEqual([404, 'not_found']);
    }
  });
});

describe('operational endpoints', () => {
  it('/healthz and /readyz', async () => {
    expect((await get(server.url, '/healthz')).json).toEqual({ status: 'ok' });
    const ready = await get(server.url, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({
      status: 'ready',
      jobs: { lookup: { prediction_date: pub.date, run_id: pub.runId }, lookup_fb: { prediction_date: pub.date, run_id: fallbackRunId } },
    });
    expect((await get(server.url, '/readyz?job=lookup')).status).toBe(200);
    expect((await get(server.url, '/readyz?job=nope')).json).toMatchObject({ error: 'bad_request', parameter: 'job' });
  });

  it('/metrics has request counts and latency by route and status, pool usage and the served generation', async () => {
    await get(server.url, lookup('lookup', 'nobody-here'));
    const m = await get(server.url, '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.body).toMatch(/batchcast_http_requests_total\{route="lookup",method="GET",status="200"\} \d+/);
    expect(m.body).toMatch(/batchcast_http_requests_total\{route="lookup",method="GET",status="404"\} \d+/);
    expect(m.body).toMatch(/batchcast_http_request_duration_seconds_bucket\{le="0.005",route="lookup",status="200"\} \d+/);
    // the histogram agrees with the counter: buckets cumulative and non-decreasing, +Inf = _count = requests
    const num = (re: RegExp) => Number(re.exec(m.body)?.[1]);
    const requests = num(/^batchcast_http_requests_total\{route="lookup",method="GET",status="200"\} (\d+)$/m);
    const buckets = [
      ...m.body.matchAll(/^batchcast_http_request_duration_seconds_bucket\{le="([^"]+)",route="lookup",status="200"\} (\d+)$/gm),
    ];
    expect(buckets.map((b) => b[1])).toEqual([
      '0.0005',
      '0.001',
      '0.002',
      '0.003',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '1',
      '2.5',
      '+Inf',
    ]);
    buckets.slice(1).forEach((b, i) => expect(Number(b[2])).toBeGreaterThanOrEqual(Number(buckets[i][2])));
    expect(requests).toBeGreaterThan(0);
    expect(Number(buckets.at(-1)![2])).toBe(requests);
    expect(num(/^batchcast_http_request_duration_seconds_count\{route="lookup",status="200"\} (\d+)$/m)).toBe(requests);
    expect(num(/^batchcast_http_request_duration_seconds_sum\{route="lookup",status="200"\} ([\d.e-]+)$/m)).toBeGreaterThan(0);
    expect(m.body).toContain('# TYPE batchcast_http_request_duration_seconds histogram');
    expect(m.body).toContain('# TYPE batchcast_http_requests_total counter');
    expect(m.body).toMatch(/batchcast_db_pool_connections \d+/);
    expect(m.body).toMatch(/batchcast_lookup_batch_users_count \d+/);
    expect(m.body).toContain(`batchcast_served_run_id{job="lookup"} ${pub.runId}`);
    expect(m.body).toContain(`batchcast_served_run_id{job="lookup_fb"} ${fallbackRunId}`);
    // The read-only role can load generations into memory too (COPY needs only SELECT).
    expect(m.body).toMatch(/batchcast_lookups_from_memory_total [1-9]/);
    expect(m.body).toMatch(/batchcast_memory_generation_bytes\{job="lookup"\} [1-9]/);
    expect(m.body).toContain('batchcast_serve_degraded 0');
  });

  it('/openapi.json describes every route', async () => {
    const doc = (await get(server.url, '/openapi.json')).json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/readyz',
      '/v1/jobs/{job}/dates/{date}/export.arrow',
      '/v1/jobs/{job}/score',
      '/v1/jobs/{job}/users/{userId}/recommendations',
    ]);
    expect(Object.keys(doc.paths['/v1/jobs/{job}/users/{userId}/recommendations'].get.responses)).toEqual([
      '200',
      '304',
      '400',
      '404',
      '429',
      '503',
    ]);
  });

  it('the configured role can read but not write', async () => {
    const c = new pg.Client({ connectionString: readerUrl });
    await c.connect();
    try {
      await expect(c.query(`update batchcast.published set run_id = run_id`)).rejects.toMatchObject({ code: '42501' });
      await expect(c.query(`delete from batchcast.predictions`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.end();
    }
  });

  it('rate-limits lookups (429 + Retry-After) but never the probes', async () => {
    const limited = await startTestServer(readerUrl, pub.fx.root, { rateLimitPerSecond: 5 });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => get(limited.url, lookup('lookup', 'nobody-here'))));
      const limitedAnswers = answers.filter((a) => a.status === 429);
      expect(limitedAnswers.length).toBeGreaterThanOrEqual(10);
      expect(limitedAnswers[0].headers['retry-after']).toBe('1');
      expect(limitedAnswers[0].json.error).toBe('rate_limited');
      expect((await get(limited.url, '/healthz')).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });
});
