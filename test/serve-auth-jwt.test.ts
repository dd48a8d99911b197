// JWTs checked against a JWKS (auth.jwksUrl), with jose on both sides: a real local HTTP server serves a
// JWKS made with jose, tokens are signed with its private key, and a real serve verifies them. Scopes come
// from the configured claim; a wrong signature, issuer, audience or an expired token is a 401; a JWKS
// that cannot be fetched is a 503 (not the client's fault); API keys keep working beside JWTs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/store/api-keys.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let server: TestServer;
let jwks: http.Server;
let jwksUrl: string;
let jwksRequests = 0;
let signing: CryptoKey;
let stranger: CryptoKey;
const ISSUER = 'https://idp.example.com/';
const AUDIENCE = 'batchcast-api';

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signing = pair.privateKey;
  stranger = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = http.createServer((req, res) => {
    jwksRequests++;
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(500);
      res.end('down');
    }
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  t = await createTestDb('serve_auth_jwt');
  pub = await publishFixture(t, { name: 'jwtjob', users: 30 });
  server = await startTestServer(t.url, pub.fx.root, {}, undefined, {
    jwksUrl,
    jwtIssuer: ISSUER,
    jwtAudience: AUDIENCE,
    jwtScopeClaim: 'scp',
    keysRefreshMs: 200,
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  closeAgent();
  jwks?.close();
  await t?.drop();
});

async function token(claims: JWTPayload, o: { key?: CryptoKey; kid?: string; exp?: string | number } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(o.key ?? signing);
}

const lookup = () => `/v1/jobs/jwtjob/users/${encodeURIComponent(pub.fx.users.get(pub.date)!.ids[0])}/recommendations`;
const call = async (target: string, jwt: string) => get(server.url, target, { authorization: `Bearer ${jwt}` });

describe('JWTs against a JWKS', () => {
  it('with a JWKS configured, a loopback server with no API key needs a credential on every route but /healthz', async () => {
    expect((await get(server.url, lookup())).status).toBe(401);
    expect((await get(server.url, '/healthz')).status).toBe(200);
  });

  it('scopes from the claim, as a string or an array: 200 with the scope, 403 without', async () => {
    const asString = await token({ scp: 'lookup metrics' });
    expect((await call(lookup(), asString)).status).toBe(200);
    expect((await call('/readyz', asString)).status).toBe(200);
    const noExport = await call(`/v1/jobs/jwtjob/dates/${pub.date}/export.arrow`, asString);
    expect(noExport.status).toBe(403);
    expect(noExport.json).toMatchObject({ error: 'forbidden' });
    const asArray = await token({ scp: ['export', 'admin'] });
    expect((await call(`/v1/jobs/jwtjob/dates/${pub.date}/export.arrow`, asArray)).status).toBe(200);
    expect((await call(lookup(), asArray)).status).toBe(403);
    // any valid credential reads the OpenAPI document, even with no scope
    expect((await call('/openapi.json', await token({}))).status).toBe(200);
  });

  it('a wrong signature, issuer, audience, an expired or unsigned token: 401', async () => {
    const bad = [
      await token({ scp: 'lookup' }, { key: stranger }),
      await token({ scp: 'lookup' }, { exp: Math.floor(Date.now() / 1000) - 120 }),
      await new SignJWT({ scp: 'lookup' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://other.example.com/')
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(signing),
      await new SignJWT({ scp: 'lookup' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience('someone-else')
        .setExpirationTime('5m')
        .sign(signing),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"scp":"lookup"}').toString('base64url')}.`,
      'a.b.c',
    ];
    for (const jwt of bad) {
      const a = await call(lookup(), jwt);
      expect(a.status, jwt.slice(0, 40)).toBe(401);
      expect(a.json).toMatchObject({ error: 'unauthorized' });
    }
  });

  it('the JWKS is fetched once and cached, not once a request', async () => {
    const before = jwksRequests;
    const jwt = await token({ scp: 'lookup' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => call(lookup(), jwt)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(jwksRequests - before).toBeLessThanOrEqual(1);
  });

  it('API keys work beside JWTs', async () => {
    const k = await createApiKey(t.db.pool, { name: 'beside', scopes: ['lookup'] });
    await new Promise((r) => setTimeout(r, 600));
    expect((await get(server.url, lookup(), { authorization: `Bearer ${k.key}` })).status).toBe(200);
  });

  it('a JWKS that cannot be fetched is a 503 with Retry-After, not a 401', async () => {
    const down = await startTestServer(t.url, pub.fx.root, {}, undefined, {
      jwksUrl: jwksUrl.replace('/jwks.json', '/broken'),
      jwtIssuer: ISSUER,
      jwtAudience: AUDIENCE,
    });
    try {
      const a = await get(down.url, lookup(), { authorization: `Bearer ${await token({ scope: 'lookup' })}` });
      expect(a.status).toBe(503);
      expect(a.json).toMatchObject({ error: 'auth_unavailable' });
      expect(a.headers['retry-after']).toBe('1');
    } finally {
      await down.stop();
    }
  });
});
