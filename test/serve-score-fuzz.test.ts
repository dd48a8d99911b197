// Bad input never produces a 5xx from the scoring endpoint: 1,000 seeded random bodies, built by mutating
// valid ones (features dropped, added, retyped, huge, nested; user ids of every kind; broken JSON; raw
// bytes), for a columns job and a list-column job, then valid requests are still answered; and 400
// random Authorization headers on scoring requests with authentication on.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rng } from '../src/demo/random.ts';
import { createApiKey } from '../src/store/api-keys.ts';
import { authorizationFuzzer } from './auth-header-fuzz.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, type Published, post, publishFixture, rawStatus, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let server: TestServer;

beforeAll(async () => {
  t = await createTestDb('serve_score_fuzz');
  pub = await publishFixture(t, { name: 'sfuzz', users: 50, items: 40 });
  server = await startTestServer(t.url, pub.fx.root);
});

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

const next = rng(20261122);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));

function randomText(max: number): string {
  let s = '';
  for (let i = int(0, max); i > 0; i--) {
    s += pick([
      () => String.fromCharCode(int(0, 31)),
      () => String.fromCharCode(int(32, 126)),
      () => String.fromCharCode(int(0x80, 0xffff)),
      () => String.fromCodePoint(int(0x1f300, 0x1faff)),
      () => pick(['"', '\\', '{', '}', '[', ']', ':', ',', '__proto__', 'constructor']),
    ])();
  }
  return s;
}

function randomValue(depth = 0): unknown {
  switch (int(0, depth > 2 ? 6 : 9)) {
    case 0:
      return next() * 2 - 1;
    case 1:
      return pick([0, -0, 1e-45, 3.4e38, 3.5e38, 1e39, -1e308, 1.7976931348623157e308, Number.MIN_VALUE, 2 ** 53 + 1]);
    case 2:
      return null;
    case 3:
      return pick([true, false]);
    case 4:
      return randomText(8);
    case 5:
      return pick(['NaN', 'Infinity', '-Infinity', '1e400', '0x10', '']);
    case 6:
      return int(-1000, 1000);
    case 7:
      return Array.from({ length: int(0, 8) }, () => randomValue(depth + 1));
    case 8:
      return Object.fromEntries(Array.from({ length: int(0, 4) }, () => [randomText(6), randomValue(depth + 1)]));
    default:
      return { f0: randomValue(depth + 1) };
  }
}

function validFeatures(): Record<string, unknown> {
  return Object.fromEntries(pub.fx.featureNames.map((n) => [n, next() * 2 - 1]));
}

function randomBody(): string {
  const kind = int(0, 9);
  if (kind === 0) return randomText(200); // not JSON at all
  if (kind === 1) {
    // valid JSON cut short, or with junk after it
    const s = JSON.stringify({ user_id: 'u', features: validFeatures() });
    return next() < 0.5 ? s.slice(0, int(0, s.length - 1)) : s + randomText(5);
  }
  if (kind === 2) return JSON.stringify(randomValue());
  if (kind === 3) return '['.repeat(int(100, 3000)) + ']'.repeat(int(0, 3000)); // deep nesting
  const features: Record<string, unknown> = validFeatures();
  const body: Record<string, unknown> = {
    user_id: pick([`user-${int(0, 99)}`, randomText(20), int(-5, 5), 2 ** 60, null, '', 'x'.repeat(int(250, 260))]),
    features,
  };
  for (let i = int(0, 3); i > 0; i--) {
    const name = pick(pub.fx.featureNames);
    switch (int(0, 4)) {
      case 0:
        delete features[name];
        break;
      case 1:
        features[name] = randomValue();
        break;
      case 2:
        features[randomText(6)] = randomValue();
        break;
      case 3:
        body.features = next() < 0.5 ? Object.values(features) : randomValue();
        break;
      default:
        body[pick(['extra', 'k', 'User_Id', randomText(4)])] = randomValue();
    }
  }
  if (next() < 0.1) delete body.user_id;
  return JSON.stringify(body);
}

it('1,000 random bodies: never a 5xx, and every refusal says why', async () => {
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1000; i += 25) {
    const answers = await Promise.all(
      Array.from({ length: 25 }, async () => {
        const body = randomBody();
        const headers: Record<string, string> =
          next() < 0.1 ? { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', '']) } : {};
        return { body, a: await post(server.url, '/v1/jobs/sfuzz/score', body, headers) };
      }),
    );
    for (const { body, a } of answers) {
      expect(a.status, body.slice(0, 300)).toBeLessThan(500);
      if (a.status >= 400) expect(a.json?.message, body.slice(0, 300)).toBeTypeOf('string');
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
  }
  // The fuzz reached the model as well as the checks.
  expect(statuses.get(200)).toBeGreaterThan(50);
  expect(statuses.get(400)).toBeGreaterThan(400);
  const ok = await post(server.url, '/v1/jobs/sfuzz/score', JSON.stringify({ user_id: 'after', features: validFeatures() }));
  expect(ok.status).toBe(200);
}, 60_000);

it('400 random Authorization headers on scoring with authentication on: never a 5xx, and only the valid key scores', async () => {
  // last in this file: the key turns authentication on for this database
  const { key } = await createApiKey(t.db.pool, { name: 'fuzz', scopes: ['score'] });
  const secured = await startTestServer(t.url, pub.fx.root, {}, undefined, { keysRefreshMs: 200 });
  try {
    const fuzz = authorizationFuzzer(next, key);
    let scored = 0;
    for (let i = 0; i < 400; i++) {
      const { value, valid } = fuzz();
      const body = next() < 0.7 ? JSON.stringify({ user_id: `u${i}`, features: validFeatures() }) : randomBody();
      const request = Buffer.concat([
        Buffer.from('POST /v1/jobs/sfuzz/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: '),
        value,
        Buffer.from(`\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
      ]);
      const status = await rawStatus(secured.port, request);
      const shown = value.toString('latin1').slice(0, 120);
      expect(status, shown).toBeLessThan(500);
      if (!valid) expect([400, 401, 431], shown).toContain(status);
      else if (status === 200) scored++;
    }
    expect(scored).toBeGreaterThan(20);
  } finally {
    await secured.stop();
  }
}, 60_000);
