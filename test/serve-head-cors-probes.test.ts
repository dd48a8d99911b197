// HEAD, CORS and the probes' cost, against a real serve and PostgreSQL (issue 21):
// - HEAD on every GET route answers the GET's status and headers with no body (it was 405 on exports);
// - CORS is off by default; with serve.corsOrigins, an allowed origin gets Access-Control-Allow-Origin and
//   its preflight a 204 (before authentication: browsers send no credentials on a preflight), any other
//   origin neither;
// - /readyz and /metrics are answered from state at most 1 s old: 200 probes cost a handful of pool
//   checkouts, not 200 (counted with the pool's own 'acquire' event).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/store/api-keys.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let plain: TestServer;
let withCors: TestServer;
let key: string;
const APP = 'https://app.example.com';

beforeAll(async () => {
  t = await createTestDb('serve_head_cors');
  pub = await publishFixture(t, { name: 'hc', users: 40 });
  plain = await startTestServer(t.url, pub.fx.root);
  key = (await createApiKey(t.db.pool, { name: 'browser', scopes: ['lookup'] })).key;
  withCors = await startTestServer(t.url, pub.fx.root, { corsOrigins: [APP, 'http://localhost:3000'] });
}, 120_000);

afterAll(async () => {
  await plain?.stop();
  await withCors?.stop();
  closeAgent();
  await t?.drop();
});

const lookup = () => `/v1/jobs/hc/users/${encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0])}/recommendations`;

describe('HEAD', () => {
  it('every GET route answers HEAD with the status and headers of GET, and no body', async () => {
    const targets = [lookup(), '/healthz', '/readyz', '/metrics', '/openapi.json', `/v1/jobs/hc/dates/${pub.date}/export.arrow`, '/nope'];
    // one export at a time: the previous one may still be releasing its connection (503 export_busy)
    const settled = async (target: string, method: string) => {
      for (;;) {
        const a = await get(plain.url, target, {}, method);
        if (a.status !== 503) return a;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    for (const target of targets) {
      const g = await settled(target, 'GET');
      const h = await settled(target, 'HEAD');
      expect(h.status, target).toBe(g.status);
      expect(h.body, target).toBe('');
      expect(h.headers['content-type'], target).toBe(g.headers['content-type']);
      if (g.headers['content-length'] !== undefined && target !== '/metrics')
        expect(h.headers['content-length'], target).toBe(g.headers['content-length']);
      if (g.headers.etag !== undefined) expect(h.headers.etag, target).toBe(g.headers.etag);
    }
    expect((await get(plain.url, lookup(), {}, 'HEAD')).status).toBe(200);
    expect((await settled(`/v1/jobs/hc/dates/${pub.date}/export.arrow`, 'HEAD')).headers['x-batchcast-run-id']).toBe(String(pub.runId));
  });

  it('with authentication on, HEAD needs a key like GET', async () => {
    expect((await get(withCors.url, lookup(), {}, 'HEAD')).status).toBe(401);
    expect((await get(withCors.url, lookup(), { authorization: `Bearer ${key}` }, 'HEAD')).status).toBe(200);
  });
});

describe('CORS', () => {
  const preflight = (origin: string) => ({
    origin,
    'access-control-request-method': 'GET',
    'access-control-request-headers': 'authorization',
  });

  it('is off by default: no CORS header, and a preflight is a 405', async () => {
    const a = await get(plain.url, lookup(), { origin: APP });
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBeUndefined();
    const p = await get(plain.url, lookup(), preflight(APP), 'OPTIONS');
    expect(p.status).toBe(405);
    expect(p.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('an allowed origin gets its preflight answered (before auth) and the header on answers, 401s included', async () => {
    const p = await get(withCors.url, lookup(), preflight(APP), 'OPTIONS');
    expect(p.status).toBe(204);
    expect(p.body).toBe('');
    expect(p.headers).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': expect.stringContaining('authorization'),
      'access-control-max-age': '600',
      vary: 'origin',
    });
    const a = await get(withCors.url, lookup(), { origin: APP, authorization: `Bearer ${key}` });
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBe(APP);
    expect(a.headers['access-control-expose-headers']).toContain('etag');
    const denied = await get(withCors.url, lookup(), { origin: APP });
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe(APP); // so the page can read the 401
  });

  it('another origin gets no CORS header and no preflight', async () => {
    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.com', 'null', `${APP}/`]) {
      const p = await get(withCors.url, lookup(), preflight(origin), 'OPTIONS');
      expect([401, 405], origin).toContain(p.status); // not answered as a preflight: 401 here (auth on), 405 without auth
      expect(p.headers['access-control-allow-origin'], origin).toBeUndefined();
      const a = await get(withCors.url, lookup(), { origin, authorization: `Bearer ${key}` });
      expect(a.status).toBe(200);
      expect(a.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(a.headers.vary).toBe('origin');
    }
  });
});

describe('probes', () => {
  it('200 concurrent /readyz and /metrics cost a few queries, not one each, and see a new publish within ~1 s', async () => {
    await new Promise((r) => setTimeout(r, 1_100)); // nothing cached
    let checkouts = 0;
    const count = () => {
      checkouts++;
    };
    plain.pool.on('acquire', count);
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => get(plain.url, i % 2 ? '/readyz' : '/metrics')));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      // one published-generations read and one ledger read, maybe twice each if the burst crossed a second
      expect(checkouts).toBeLessThanOrEqual(4);
    } finally {
      plain.pool.off('acquire', count);
    }
    const ready = (await get(plain.url, '/readyz')).json;
    expect(ready.jobs.hc.run_id).toBe(pub.runId);
  });
});
