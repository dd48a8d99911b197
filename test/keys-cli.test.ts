// `batchcast keys create|list|revoke` and serve's bind rule, through the CLI as people run them: a key is
// printed once and stored only as its SHA-256; list never shows a key or a hash; revoke takes an id or a
// name; `serve --host 0.0.0.0` with no key exits non-zero naming the command that makes one, and
// `--insecure-no-auth` starts with a warning; `demo` then `serve` still work with no set-up.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { bin, repo, runCli } from './run-cli.ts';

let t: TestDb;
const env = () => ({ DATABASE_URL: t.url });
const KEY = /^bck_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

beforeAll(async () => {
  t = await createTestDb('keys_cli');
});

afterAll(async () => {
  await t?.drop();
});

describe('batchcast keys', () => {
  it('create prints the key once and stores only its hash, with the scopes and rate limit', async () => {
    const made = await runCli(['keys', 'create', '--name', 'checkout', '--scope', 'lookup,score', '--rate-limit', '50'], env());
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.split('\n')[0];
    expect(key).toMatch(KEY);
    expect(made.stdout).toMatch(/scopes lookup, score, at most 50 requests\/s/);
    expect(made.stdout).toMatch(/only time the key is shown/);
    const { rows } = await t.db.pool.query('select key_id, key_sha256, scopes, rate_limit_per_second from batchcast.api_keys');
    expect(rows).toEqual([
      {
        key_id: key.slice(4, 16),
        key_sha256: createHash('sha256').update(key).digest(),
        scopes: ['lookup', 'score'],
        rate_limit_per_second: 50,
      },
    ]);
    const dump = JSON.stringify((await t.db.pool.query('select * from batchcast.api_keys')).rows);
    expect(dump).not.toContain(key.slice(17));

    const quiet = await runCli(['keys', 'create', '--name', 'probe', '--scope', 'metrics', '--quiet'], env());
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(new RegExp(`${KEY.source.slice(0, -1)}\\n$`));
  });

  it('refuses a taken name, an unknown scope, no scope, a bad name or rate limit, saying what to do (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--name', 'checkout', '--scope', 'lookup'],
        /an active key named checkout exists already; revoke it first \(batchcast keys revoke --name checkout\)/,
      ],
      [['--name', 'x', '--scope', 'lookup,admin'], /--scope "admin" is not a scope; use lookup, score, export, metrics/],
      [['--name', 'x', '--scope', ','], /--scope is required: one or more of lookup, score, export, metrics/],
      [['--name', 'a b', '--scope', 'lookup'], /--name "a b" is not a key name/],
      [['--name', 'x', '--scope', 'lookup', '--rate-limit', '0'], /--rate-limit must be a whole number of requests per second above 0/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['keys', 'create', ...args], env());
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('list shows ids, names, scopes and limits, never a key or a hash; revoke by name or id', async () => {
    const list = await runCli(['keys', 'list'], env());
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/checkout\s+lookup,score\s+50\/s/);
    expect(list.stdout).not.toMatch(/bck_/);
    const json = JSON.parse((await runCli(['keys', 'list', '--json'], env())).stdout);
    expect(json.map((k: { name: string }) => k.name).sort()).toEqual(['checkout', 'probe']);
    for (const k of json)
      expect(Object.keys(k).sort()).toEqual(['created_at', 'key_id', 'name', 'rate_limit_per_second', 'revoked_at', 'scopes']);

    const byName = await runCli(['keys', 'revoke', '--name', 'checkout'], env());
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.stdout).toMatch(/revoked key [0-9a-f]{12} \(checkout\); a running serve refuses it within/);
    const probe = json.find((k: { name: string }) => k.name === 'probe');
    expect((await runCli(['keys', 'revoke', '--id', probe.key_id], env())).code).toBe(0);
    const again = await runCli(['keys', 'revoke', '--id', probe.key_id], env());
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no active key with id [0-9a-f]{12}; see batchcast keys list/);
    const { rows } = await t.db.pool.query('select count(*)::int as n from batchcast.api_keys where revoked_at is null');
    expect(rows[0].n).toBe(0);
    // the name is free again
    expect((await runCli(['keys', 'create', '--name', 'checkout', '--scope', 'lookup', '--quiet'], env())).code).toBe(0);
  });
});

describe('serve on an address other than loopback', () => {
  it('with no key, exits non-zero with the one command that makes a key', async () => {
    const empty = await createTestDb('keys_cli_empty');
    try {
      const r = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'], { DATABASE_URL: empty.url }, 60_000);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refusing to serve on 0\.0\.0\.0 without authentication/);
      expect(r.stderr).toContain('batchcast keys create --name my-app --scope lookup');
      // with several processes, the first worker's refusal stops the whole server
      const cluster = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--processes', '2'], { DATABASE_URL: empty.url }, 60_000);
      expect(cluster.code).not.toBe(0);
      expect(cluster.stderr).toContain('batchcast keys create --name my-app --scope lookup');
      expect(cluster.stderr).toMatch(/refused to start \(exit 2\); stopping/);
    } finally {
      await empty.drop();
    }
  });

  it('--insecure-no-auth starts, with a warning', async () => {
    const empty = await createTestDb('keys_cli_insecure');
    const child = spawn(process.execPath, [bin, 'serve', '--host', '0.0.0.0', '--port', '0', '--insecure-no-auth', '--json'], {
      env: { ...process.env, DATABASE_URL: empty.url },
    });
    try {
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
      });
      const until = Date.now() + 60_000;
      while (!/serving lookups on/.test(err) && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(err).toContain('authentication is OFF');
      expect(err).toMatch(/serving lookups on http:\/\/0\.0\.0\.0:\d+/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await empty.drop();
    }
  }, 90_000);
});

describe('the demo with no set-up', () => {
  it('demo, then serve: lookups answer on 127.0.0.1 without a key, and the log says so', async () => {
    const db = await createTestDb('keys_cli_demo');
    const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-demo-auth-'));
    chmodSync(root, 0o755);
    mkdirSync(path.join(root, 'jobs'));
    copyFileSync(path.join(repo, 'demo', 'demo.json'), path.join(root, 'jobs', 'demo.json'));
    const env = { DATABASE_URL: db.url, BATCHCAST_ROOT: root };
    const port = await freePort();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const demo = await runCli(['demo', '--users', '500', '--items', '100', '--days', '1', '--end-date', '2026-11-20'], env, 180_000);
      expect(demo.code, demo.stderr).toBe(0);
      child = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--json'], { env: { ...process.env, ...env } });
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      const until = Date.now() + 60_000;
      while (!/serving lookups on/.test(err) && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(err).toMatch(/serving without authentication on 127\.0\.0\.1 \(loopback\) only/);
      expect(err).toMatch(/serving lookups on http:\/\/127\.0\.0\.1:\d+ .*NO authentication/);
      const a = await fetch(`http://127.0.0.1:${port}/v1/jobs/demo/users/1/recommendations?k=3`);
      expect(a.status).toBe(200);
      expect((await a.json()).items).toHaveLength(3);
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await db.drop();
    }
  }, 240_000);
});
