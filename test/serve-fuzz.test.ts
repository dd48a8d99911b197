// Bad input never produces a 5xx: 1,500 seeded random user ids, job names, query strings and headers
// through a normal HTTP client, 300 requests of raw random bytes on the socket, and 600 random
// Authorization headers (garbage, huge, UTF-8, many spaces, wrong scheme, a valid key cut or with a bad
// tail) against a server with authentication on.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rng } from '../src/demo/random.ts';
import { createApiKey } from '../src/store/api-keys.ts';
import { authorizationFuzzer } from './auth-header-fuzz.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, rawStatus, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let server: TestServer;

beforeAll(async () => {
  t = await createTestDb('serve_fuzz');
  pub = await publishFixture(t, { name: 'fuzz', job: { fallback: true } });
  server = await startTestServer(t.url, pub.fx.root);
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

const next = rng(20261120);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));

// Code points from ranges that break naive code: controls, Latin-1, surrogates (lone ones are not UTF-8),
// CJK, emoji, and the URL's own delimiters.
function randomChar(clean: boolean): string {
  switch (clean ? pick([1, 2, 4, 5, 7]) : int(0, 7)) {
    case 0:
      return String.fromCharCode(int(0, 31));
    case 1:
      return String.fromCharCode(int(32, 126));
    case 2:
      return String.fromCharCode(int(0x80, 0xff));
    case 3:
      return String.fromCharCode(int(0xd800, 0xdfff));
    case 4:
      return String.fromCodePoint(int(0x4e00, 0x9fff));
    case 5:
      return String.fromCodePoint(int(0x1f300, 0x1faff));
    case 6:
      return pick(['/', '?', '#', '%', '&', '=', '+', ' ', '\\', '.', '..', "'", '"', ';', '\u0000']);
    default:
      return pick(['a', 'b', 'u', '1', '-', '_']);
  }
}

/** Percent-encodes as UTF-8 where possible; lone surrogates become the (invalid) bytes a broken client sends. */
function encode(s: string): string {
  let out = '';
  for (const ch of s) {
    try {
      out += encodeURIComponent(ch);
    } catch {
      out += '%ED%A0%80';
    }
  }
  // Sometimes broken percent sequences on top.
  if (next() < 0.15)
    out = out.slice(0, int(0, out.length)) + pick(['%', '%2', '%zz', '%c3', '%C3%28', '%F0%9F']) + out.slice(int(0, out.length));
  return out;
}

/** `clean`: only characters a valid user id may hold, so the id reaches the database. */
function randomString(max: number, clean = false): string {
  let s = '';
  for (let i = int(0, max); i > 0; i--) s += randomChar(clean);
  return s;
}

function randomQuery(): string {
  // A third valid, so that random user ids reach the database, not only the parameter checks.
  if (next() < 0.2) return '';
  if (next() < 0.2) return pick(['?k=2', `?date=${pub.date}`, `?date=${pub.date}&k=5`]);
  const parts: string[] = [];
  for (let i = int(0, 4); i > 0; i--) {
    const key = pick(['date', 'k', 'date', 'k', 'K', 'DATE', '', 'x', encode(randomString(5))]);
    const value = pick([
      pub.date,
      '2026-02-29',
      '2026-13-01',
      '0000-00-00',
      '9999-12-31',
      '20261120',
      '',
      String(int(-5, 12)),
      '1e3',
      '0x5',
      '99999999999999999999',
      ' 3',
      '3 ',
      'NaN',
      'null',
      encode(randomString(8)),
    ]);
    parts.push(next() < 0.1 ? key : `${key}=${value}`);
  }
  return `?${parts.join(pick(['&', '&', '&', ';', '&&']))}`;
}

it('1,500 random user ids, job names and query strings: never a 5xx', async () => {
  const ids = pub.fx.users.get(pub.date)!.ids;
  const targets: { target: string; headers: Record<string, string> }[] = [];
  for (let i = 0; i < 1500; i++) {
    const job = next() < 0.85 ? 'fuzz' : encode(randomString(12));
    const user = next() < 0.2 ? encodeURIComponent(pick(ids)) : encode(randomString(next() < 0.05 ? 300 : 20, next() < 0.5));
    const headers: Record<string, string> = next() < 0.2 ? { 'if-none-match': pick(['*', '"r1"', 'W/"x"', ',,,', '"', 'r1, "r2"']) } : {};
    // Only what an HTTP client can send (it refuses spaces and controls); the raw test below sends those.
    const target = `/v1/jobs/${job}/users/${user}/recommendations${randomQuery()}`.replace(/[^\u0021-\u007e]/g, (c) => encode(c));
    targets.push({ target, headers });
  }
  const statuses = new Map<number, number>();
  for (let i = 0; i < targets.length; i += 32) {
    const answers = await Promise.all(
      targets.slice(i, i + 32).map(async ({ target, headers }) => ({ target, a: await get(server.url, target, headers) })),
    );
    for (const { target, a } of answers) {
      expect(a.status, target).toBeLessThan(500);
      if (a.status >= 400) expect(a.json?.message, target).toBeTypeOf('string');
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
  }
  // The fuzz reached every kind of answer, not only the first check.
  expect(statuses.get(200)).toBeGreaterThan(300);
  expect(statuses.get(400)).toBeGreaterThan(500);
});

it('300 requests of raw random bytes: answered below 500, and the server keeps serving', async () => {
  for (let i = 0; i < 300; i++) {
    const bytes = Buffer.from(Array.from({ length: int(1, 80) }, () => (next() < 0.7 ? int(0x21, 0x7e) : int(0, 0xff))));
    const method = pick(['GET', 'GET', 'HEAD', 'POST', 'DELETE', 'G\u00e9T', '']);
    const request = Buffer.concat([
      Buffer.from(`${method} /v1/jobs/fuzz/users/`),
      bytes,
      Buffer.from(`/recommendations${randomQuery()} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
    ]);
    const status = await rawStatus(server.port, request);
    expect(status, request.toString('latin1')).toBeLessThan(500);
  }
  const ok = await get(server.url, `/v1/jobs/fuzz/users/${encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0])}/recommendations`);
  expect(ok.status).toBe(200);
  expect((await get(server.url, '/healthz')).status).toBe(200);
});

it('600 random Authorization headers with authentication on: never a 5xx, and only the valid key gets in', async () => {
  // last in this file: the key turns authentication on for this database
  const { key } = await createApiKey(t.db.pool, { name: 'fuzz', scopes: ['lookup'] });
  const secured = await startTestServer(t.url, pub.fx.root, {}, undefined, { keysRefreshMs: 200 });
  try {
    const fuzz = authorizationFuzzer(next, key);
    const user = encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0]);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const { value, valid } = fuzz();
      const request = Buffer.concat([
        Buffer.from(`GET /v1/jobs/fuzz/users/${user}/recommendations HTTP/1.1\r\nHost: x\r\nAuthorization: `),
        value,
        Buffer.from('\r\n\r\n'),
      ]);
      const status = await rawStatus(secured.port, request);
      const shown = value.toString('latin1').slice(0, 120);
      expect(status, shown).toBeLessThan(500);
      if (valid) expect(status, shown).toBe(200);
      else expect([400, 401, 431], shown).toContain(status);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(statuses.get(200)).toBeGreaterThan(40);
    expect(statuses.get(401)).toBeGreaterThan(300);
    expect((await get(secured.url, `/v1/jobs/fuzz/users/${user}/recommendations`, { authorization: `Bearer ${key}` })).status).toBe(200);
  } finally {
    await secured.stop();
  }
}, 60_000);
