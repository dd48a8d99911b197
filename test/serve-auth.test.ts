// API keys against a real serve and a real PostgreSQL (issue 21): with a key in batchcast.api_keys, every
// route but /healthz answers 401 without a valid key and 403 without the route's scope, and a key with the
// scope gets exactly what an unauthenticated server gave before; errors name neither jobs nor keys; a
// revoked key is refused within auth.keysRefreshMs; each key has its own rate limit; an unsafe bind
// refuses to start, and a loopback server turns authentication on when the first key appears.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiKeyRow, createApiKey, revokeApiKey } from '../src/store/api-keys.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import {
  type Answer,
  closeAgent,
  get,
  type Published,
  post,
  publishFixture,
  recordingLogger,
  startTestServer,
  type TestServer,
} from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
/** Keys exist: authentication is on although the server listens on 127.0.0.1. */
let server: TestServer;
/** The same database with authentication off: what every route answered before. */
let open: TestServer;
const keys: Record<string, ApiKeyRow & { key: string }> = {};
const REFRESH_MS = 200;

beforeAll(async () => {
  t = await createTestDb('serve_auth');
  pub = await publishFixture(t, { name: 'authjob', users: 50 });
  for (const scope of ['lookup', 'score', 'export', 'metrics'] as const)
    keys[scope] = await createApiKey(t.db.pool, { name: `only-${scope}`, scopes: [scope] });
  keys.all = await createApiKey(t.db.pool, { name: 'all', scopes: ['lookup', 'score', 'export', 'metrics'] });
  server = await startTestServer(t.url, pub.fx.root, {}, undefined, { keysRefreshMs: REFRESH_MS });
  open = await startTestServer(t.url, pub.fx.root, {}, undefined, { insecureNoAuth: true });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await open?.stop();
  closeAgent();
  await t?.drop();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const user = () => encodeURIComponent(pub.fx.users.get(pub.date)!.ids[3]);
const scoreBody = () => {
  const { ids, features } = pub.fx.users.get(pub.date)!;
  return JSON.stringify({ user_id: ids[3], features: Object.fromEntries(pub.fx.featureNames.map((n, j) => [n, features[3][j]])) });
};

/** Every route but /healthz, each with the scope it needs (null: any valid key). */
const routes = () =>
  [
    {
      name: 'lookup',
      scope: 'lookup',
      call: (base: string, h: Record<string, string>) => get(base, `/v1/jobs/authjob/users/${user()}/recommendations`, h),
    },
    {
      name: 'score',
      scope: 'score',
      call: (base: string, h: Record<string, string>) => post(base, '/v1/jobs/authjob/score', scoreBody(), h),
    },
    {
      name: 'export',
      scope: 'export',
      call: (base: string, h: Record<string, string>) => get(base, `/v1/jobs/authjob/dates/${pub.date}/export.arrow`, h),
    },
    { name: 'metrics', scope: 'metrics', call: (base: string, h: Record<string, string>) => get(base, '/metrics', h) },
    { name: 'readyz', scope: 'metrics', call: (base: string, h: Record<string, string>) => get(base, '/readyz', h) },
    { name: 'openapi', scope: null, call: (base: string, h: Record<string, string>) => get(base, '/openapi.json', h) },
    { name: 'unknown path', scope: null, call: (base: string, h: Record<string, string>) => get(base, '/v1/jobs', h) },
  ] as const;

/** An error body: the API's JSON shape, naming no job and no key. */
function expectBareError(a: Answer, status: number, error: string): void {
  expect(a.status, a.body).toBe(status);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  expect(a.json).toMatchObject({ error, message: expect.any(String) });
  expect(a.body).not.toMatch(/authjob|only-|bck_/);
  for (const k of Object.values(keys)) expect(a.body).not.toContain(k.key_id);
}

describe('with keys, every route but /healthz needs one', () => {
  it('no key, a wrong scheme, a malformed or an unknown key: 401 with WWW-Authenticate, on every route', async () => {
    const forged = `${keys.all.key.slice(0, -4)}AAAA`;
    for (const r of routes()) {
      for (const h of [{}, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, bearer('nonsense'), bearer(forged)]) {
        const a = await r.call(server.url, h);
        expectBareError(a, 401, 'unauthorized');
        expect(a.headers['www-authenticate'], r.name).toBe('Bearer realm="batchcast"');
      }
    }
    expect((await get(server.url, '/healthz')).status).toBe(200);
  });

  it('a key without the route scope: 403; with it: what the open server answers', async () => {
    for (const r of routes()) {
      for (const [scope, k] of Object.entries(keys)) {
        const allowed = r.scope === null || scope === 'all' || scope === r.scope;
        const a = await r.call(server.url, bearer(k.key));
        if (!allowed) {
          expectBareError(a, 403, 'forbidden');
          continue;
        }
        const before = await r.call(open.url, {});
        expect(a.status, `${r.name} with ${scope}`).toBe(before.status);
        if (r.name === 'metrics') expect(a.body).toMatch(/^batchcast_served_run_id\{job="authjob"\} \d+$/m);
        else if (r.name === 'score') expect({ ...a.json, generated_at: 0 }).toEqual({ ...before.json, generated_at: 0 });
        else expect(a.body, `${r.name} with ${scope}`).toBe(before.body);
      }
    }
  });

  it('on one keep-alive connection, a proved key does not let a different header in, and a revoked one stops', async () => {
    const agentless = await import('node:http');
    const agent = new agentless.Agent({ keepAlive: true, maxSockets: 1 });
    const target = `/v1/jobs/authjob/users/${user()}/recommendations`;
    const on = (h: Record<string, string>) =>
      new Promise<{ status: number; port: number }>((resolve, reject) => {
        const u = new URL(server.url);
        const req = agentless.request({ host: u.hostname, port: u.port, path: target, headers: h, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, port: req.socket!.localPort! }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const k = await createApiKey(t.db.pool, { name: 'keepalive', scopes: ['lookup'] });
      await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
      const first = await on(bearer(k.key));
      expect(first.status).toBe(200);
      const forged = await on(bearer(`${k.key.slice(0, -1)}${k.key.endsWith('A') ? 'B' : 'A'}`));
      expect(forged).toEqual({ status: 401, port: first.port }); // same socket
      expect(await on(bearer(keys.export.key))).toEqual({ status: 403, port: first.port });
      expect(await on(bearer(k.key))).toEqual({ status: 200, port: first.port });
      await revokeApiKey(t.db.pool, { name: 'keepalive' });
      await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
      expect(await on(bearer(k.key))).toEqual({ status: 401, port: first.port });
    } finally {
      agent.destroy();
    }
  });

  it('a key with a body of its own is refused unread, and the connection is closed', async () => {
    const a = await post(server.url, '/v1/jobs/authjob/score', scoreBody(), bearer(keys.lookup.key));
    expectBareError(a, 403, 'forbidden');
    expect(a.headers.connection).toBe('close');
  });
});

describe('errors never enumerate jobs', () => {
  it('an unknown job is a 400 that names it and no other, on lookup, score, export and readyz', async () => {
    for (const base of [server.url, open.url]) {
      const h = bearer(keys.all.key);
      const answers = await Promise.all([
        get(base, '/v1/jobs/nosuch/users/u1/recommendations', h),
        post(base, '/v1/jobs/nosuch/score', scoreBody(), h),
        get(base, `/v1/jobs/nosuch/dates/${pub.date}/export.arrow`, h),
        get(base, '/readyz?job=nosuch', h),
      ]);
      for (const a of answers) {
        expect(a.status, a.body).toBe(400);
        expect(a.json).toMatchObject({ parameter: 'job', message: 'job "nosuch" is not a job this server knows' });
      }
    }
  });
});

describe('keys change while serving', () => {
  it('a revoked key is refused within keysRefreshMs; a new one is accepted as fast', async () => {
    const k = await createApiKey(t.db.pool, { name: 'short-lived', scopes: ['lookup'] });
    const target = `/v1/jobs/authjob/users/${user()}/recommendations`;
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
    expect((await get(server.url, target, bearer(k.key))).status).toBe(200);
    await revokeApiKey(t.db.pool, { name: 'short-lived' });
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 5_000) {
      status = (await get(server.url, target, bearer(k.key))).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    // bound: the refresh period plus one query (the test box is shared: a generous margin for the query)
    expect(Date.now() - revokedAt).toBeLessThan(REFRESH_MS + 2_000);
  });

  it("each key has its own rate limit: one key's 429 leaves another key's requests alone", async () => {
    const slow = await createApiKey(t.db.pool, { name: 'slow', scopes: ['lookup'], rateLimitPerSecond: 3 });
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
    const target = `/v1/jobs/authjob/users/${user()}/recommendations`;
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(server.url, target, bearer(slow.key))));
    const limited = answers.filter((a) => a.status === 429);
    // a full bucket of 3, plus what refills while the 10 arrive on a busy box
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(4);
    expect(limited.length).toBeGreaterThanOrEqual(6);
    expectBareError(limited[0], 429, 'rate_limited');
    expect(limited[0].headers['retry-after']).toBe('1');
    const others = await Promise.all(Array.from({ length: 10 }, () => get(server.url, target, bearer(keys.lookup.key))));
    expect(others.every((a) => a.status === 200)).toBe(true);
  });
});

describe('safe by default', () => {
  it('any address but loopback, with no key and no JWKS, refuses to start and gives the command that makes a key', async () => {
    const empty = await createTestDb('serve_auth_empty');
    try {
      await expect(startTestServer(empty.url, pub.fx.root, { host: '0.0.0.0' })).rejects.toThrow(
        /refusing to serve on 0\.0\.0\.0 without authentication: .*batchcast keys create --name my-app --scope lookup/,
      );
      // --insecure-no-auth starts, and says so at every start
      const lines = recordingLogger();
      const s = await startTestServer(empty.url, pub.fx.root, { host: '0.0.0.0' }, lines, { insecureNoAuth: true });
      await s.stop();
      expect(lines.lines.filter((l) => l.level === 'warn' && /authentication is OFF/.test(l.msg))).toHaveLength(1);
    } finally {
      await empty.drop();
    }
  });

  it('with keys, any address starts with authentication on', async () => {
    const s = await startTestServer(t.url, pub.fx.root, { host: '0.0.0.0' });
    try {
      const base = s.url.replace('0.0.0.0', '127.0.0.1');
      expect((await get(base, `/v1/jobs/authjob/users/${user()}/recommendations`)).status).toBe(401);
      expect((await get(base, `/v1/jobs/authjob/users/${user()}/recommendations`, bearer(keys.lookup.key))).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it('loopback with no key is open and says so; the first key turns authentication on, and revoking it does not reopen', async () => {
    const fresh = await createTestDb('serve_auth_fresh');
    const lines = recordingLogger();
    const s = await startTestServer(fresh.url, pub.fx.root, {}, lines, { keysRefreshMs: REFRESH_MS });
    try {
      expect(lines.lines.some((l) => /serving without authentication on 127\.0\.0\.1 \(loopback\) only/.test(l.msg))).toBe(true);
      expect((await get(s.url, '/readyz')).status).not.toBe(401);
      // open on loopback, it answers loopback host names only: a DNS-rebinding page gets nothing
      const port = new URL(s.url).port;
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST'])
        expect((await get(s.url, '/readyz', { host })).status, host).not.toBe(403);
      for (const host of [`evil.example.com:${port}`, 'evil.example.com', `127.0.0.1.nip.io:${port}`]) {
        const a = await get(s.url, '/readyz', { host });
        expect(a.status, host).toBe(403);
        expect(a.json).toMatchObject({ error: 'forbidden_host' });
      }
      expect((await get(s.url, '/healthz', { host: 'evil.example.com' })).status).toBe(200);
      const k = await createApiKey(fresh.db.pool, { name: 'first', scopes: ['metrics'] });
      await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
      expect((await get(s.url, '/readyz')).status).toBe(401);
      expect((await get(s.url, '/metrics', bearer(k.key))).status).toBe(200);
      await revokeApiKey(fresh.db.pool, { keyId: k.key_id });
      await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
      expect((await get(s.url, '/readyz')).status).toBe(401);
      expect((await get(s.url, '/metrics', bearer(k.key))).status).toBe(401);
    } finally {
      await s.stop();
      await fresh.drop();
    }
  });
});

describe('the read-only role', () => {
  it('grant_lookup_access lets it read the keys; without that grant a loopback server stays closed and says what to run', async () => {
    const role = `bc_auth_reader_${Math.random().toString(36).slice(2, 8)}`;
    await t.db.pool.query(`create role ${role} login password 'pw'`);
    const u = new URL(t.url);
    u.username = role;
    u.password = 'pw';
    try {
      await t.db.pool.query('select batchcast.grant_lookup_access($1)', [role]);
      const granted = await startTestServer(u.toString(), pub.fx.root);
      try {
        expect((await get(granted.url, `/v1/jobs/authjob/users/${user()}/recommendations`)).status).toBe(401);
        expect((await get(granted.url, `/v1/jobs/authjob/users/${user()}/recommendations`, bearer(keys.lookup.key))).status).toBe(200);
      } finally {
        await granted.stop();
      }
      await t.db.pool.query(`revoke select on batchcast.api_keys from ${role}`);
      const lines = recordingLogger();
      const blind = await startTestServer(u.toString(), pub.fx.root, {}, lines);
      try {
        expect((await get(blind.url, `/v1/jobs/authjob/users/${user()}/recommendations`, bearer(keys.lookup.key))).status).toBe(401);
        expect((await get(blind.url, '/healthz')).status).toBe(200);
        expect(lines.lines.some((l) => l.level === 'error' && /select batchcast\.grant_lookup_access/.test(l.msg))).toBe(true);
      } finally {
        await blind.stop();
      }
    } finally {
      // its grants live in this database: drop them here, then the role
      await t.db.pool.query(`drop owned by ${role}`);
      await t.db.pool.query(`drop role ${role}`);
    }
  });
});
