// Configuration from one schema: defaults < config/default.json < config/$BATCHCAST_ENV.json < environment
// < flags, each layer in real files under a temp root; bad values name the setting and where they came from;
// docs/configuration.md is what the schema generates now.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configReference } from '../src/config/config-reference.ts';
import { listSettings } from '../src/config/list-settings.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { BadInputError } from '../src/errors.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh project root holding config/<name>.json for each entry of `files`. */
function rootWith(files: Record<string, unknown> = {}): string {
  const root = path.join(dir, `root-${n++}`);
  mkdirSync(path.join(root, 'config'), { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(path.join(root, 'config', `${name}.json`), typeof body === 'string' ? body : JSON.stringify(body));
  }
  return root;
}

function failure(fn: () => unknown): BadInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }
  throw new Error('expected loadConfig to fail');
}

describe('docs/configuration.md', () => {
  it('is what `npm run docs:config` writes now', () => {
    const committed = readFileSync(path.join(repo, 'docs', 'configuration.md'), 'utf8');
    expect(committed, 'run `npm run docs:config` and commit docs/configuration.md').toBe(configReference());
  });

  it('lists every setting with a description', () => {
    const doc = configReference();
    for (const s of listSettings()) {
      expect(s.description, s.key).toBeTruthy();
      expect(doc, s.key).toContain(`| \`${s.key}\` |`);
    }
  });
});

describe('loadConfig', () => {
  it('defaults < config/default.json < config/$BATCHCAST_ENV.json < environment < flags', () => {
    const root = rootWith({
      default: {
        $comment: 'shared',
        workers: 3,
        intraOpThreads: 3,
        chunkRows: 3,
        inFlight: 3,
        serve: { port: 3, poolSize: 3, processes: 3 },
      },
      staging: { intraOpThreads: 4, chunkRows: 4, inFlight: 4, serve: { poolSize: 4, processes: 4 } },
    });
    const env = { BATCHCAST_ENV: 'staging', BATCHCAST_CHUNK_ROWS: '5', BATCHCAST_IN_FLIGHT: '5', BATCHCAST_SERVE_PROCESSES: '5' };
    const c = loadConfig({ root, inFlight: 6 }, env);
    expect([c.copyConnections, c.workers, c.intraOpThreads, c.chunkRows, c.inFlight]).toEqual([1, 3, 4, 5, 6]);
    // sections merge setting by setting: host from the defaults, port from default.json, poolSize from staging.json
    expect(c.serve).toMatchObject({ host: '127.0.0.1', port: 3, poolSize: 4, processes: 5 });
    expect(loadConfig({ root }, {}).intraOpThreads).toBe(3); // no BATCHCAST_ENV: default.json only
  });

  it('the defaults, with relative paths read from root', () => {
    const root = rootWith();
    const c = loadConfig({ root }, {});
    expect(c).toMatchObject({
      root,
      jobsDir: path.join(root, 'jobs'),
      databaseUrl: undefined,
      workers: 2,
      intraOpThreads: 1,
      logLevel: 'info',
    });
    expect(c.embedded.dataDir).toBe(path.join(root, 'data/pg'));
    expect(Object.keys(c)).toContain('lookupDatabaseUrl'); // unset settings are present, as undefined
    expect(loadConfig({}, { BATCHCAST_ROOT: root }).root).toBe(root);
  });

  it('refuses an unknown setting in a file, naming the file and the known settings', () => {
    const root = rootWith({ default: { wrokers: 2 } });
    const err = failure(() => loadConfig({ root }, {}));
    expect(err.message).toContain(
      `config file ${path.join(root, 'config', 'default.json')}: unknown setting "wrokers" (known: jobsDir, logLevel,`,
    );
    expect(err.message).toContain(' workers, ');
    expect(err.message).not.toContain(' root,'); // found under root, so not settable there
    const nested = rootWith({ default: { serve: { prot: 80 } } });
    expect(failure(() => loadConfig({ root: nested }, {})).message).toContain(
      'unknown setting "serve.prot" (known: serve.host, serve.port,',
    );
  });

  it('a bad environment value names the variable', () => {
    const root = rootWith();
    expect(failure(() => loadConfig({ root }, { BATCHCAST_WORKERS: 'many' })).message).toBe(
      'config workers="many" must be an integer between 1 and 64 (from environment variable BATCHCAST_WORKERS)',
    );
    expect(failure(() => loadConfig({ root }, { BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS: 'yes' })).message).toContain(
      '(from environment variable BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS)',
    );
    // a URL may hold a password: named, never repeated
    const err = failure(() => loadConfig({ root }, { DATABASE_URL: 'mysql://app:s3cret@db/x' }));
    expect(err.message).toContain('config databaseUrl must be a postgres:// URL');
    expect(err.message).toContain('DATABASE_URL');
    expect(err.message).not.toContain('s3cret');
  });

  it('a bad value names the setting, what it must be and where it came from', () => {
    const root = rootWith({ default: { serve: { port: 70000 } } });
    expect(failure(() => loadConfig({ root }, {})).message).toBe(
      `config serve.port=70000 must be an integer between 0 and 65535 (from config file ${path.join(root, 'config', 'default.json')}; environment variable BATCHCAST_SERVE_PORT overrides it)`,
    );
    expect(failure(() => loadConfig({ root, workers: 0 }, {})).message).toMatch(
      /^config workers=0 must be an integer between 1 and 64 \(from a flag/,
    );
    expect(failure(() => loadConfig({ root, schedule: { graceMs: -1 } }, {})).message).toContain(
      'config schedule.graceMs=-1 must be a whole number of milliseconds (0 or more)',
    );
  });

  it('names a BATCHCAST_ENV file that does not exist', () => {
    const root = rootWith();
    expect(failure(() => loadConfig({ root }, { BATCHCAST_ENV: 'prod' })).message).toBe(
      `BATCHCAST_ENV=prod but ${path.join(root, 'config', 'prod.json')} does not exist; create it or unset BATCHCAST_ENV`,
    );
  });

  it('keeps the environment variables deployments use', () => {
    // crontab.example, deploy/kubernetes and the benchmarks set these; renaming one breaks them silently
    expect(
      listSettings()
        .flatMap((s) => s.env ?? [])
        .sort(),
    ).toEqual([
      'BATCHCAST_ALERT_AUTHORIZATION',
      'BATCHCAST_ALERT_FORMAT',
      'BATCHCAST_ALERT_WEBHOOK_URL',
      'BATCHCAST_CHUNK_ROWS',
      'BATCHCAST_COPY_CONNECTIONS',
      'BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS',
      'BATCHCAST_DUCKDB_EXTENSIONS',
      'BATCHCAST_DUCKDB_EXTENSION_DIRECTORY',
      'BATCHCAST_INSECURE_NO_AUTH',
      'BATCHCAST_IN_FLIGHT',
      'BATCHCAST_JOBS_DIR',
      'BATCHCAST_JWKS_URL',
      'BATCHCAST_JWT_AUDIENCE',
      'BATCHCAST_JWT_ISSUER',
      'BATCHCAST_LOG_LEVEL',
      'BATCHCAST_PG_DIR',
      'BATCHCAST_PG_PORT',
      'BATCHCAST_PUSHGATEWAY_URL',
      'BATCHCAST_ROOT',
      'BATCHCAST_SCHEDULE_GRACE_MS',
      'BATCHCAST_SCHEDULE_MAX_RUNS',
      'BATCHCAST_SERVE_CORS_ORIGINS',
      'BATCHCAST_SERVE_HOST',
      'BATCHCAST_SERVE_MEMORY_MB',
      'BATCHCAST_SERVE_POOL_SIZE',
      'BATCHCAST_SERVE_PORT',
      'BATCHCAST_SERVE_PROCESSES',
      'BATCHCAST_SERVE_RATE_LIMIT',
      'BATCHCAST_THREADS',
      'BATCHCAST_WORKERS',
      'DATABASE_URL',
      'LISTEN_DATABASE_URL',
      'LOOKUP_DATABASE_URL',
    ]);
    const c = loadConfig(
      { root: rootWith() },
      { BATCHCAST_SERVE_PORT: '9000', BATCHCAST_DUCKDB_EXTENSIONS: 'httpfs, aws', BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS: '1' },
    );
    expect([c.serve.port, c.duckdb.extensions, c.duckdb.allowUnsignedExtensions]).toEqual([9000, ['httpfs', 'aws'], true]);
  });

  it('returns a frozen configuration, sections and lists included', () => {
    const c = loadConfig({ root: rootWith(), duckdb: { extensions: ['httpfs'] } }, {});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.serve)).toBe(true);
    expect(Object.isFrozen(c.duckdb.extensions)).toBe(true);
    expect(() => {
      (c as { workers: number }).workers = 9;
    }).toThrow(TypeError);
    expect(() => {
      (c.serve as { port: number }).port = 9;
    }).toThrow(TypeError);
  });

  it('reads the committed config/ files', () => {
    expect(loadConfig({ root: repo }, {})).toMatchObject({ workers: 2, intraOpThreads: 1 });
    expect(loadConfig({ root: repo }, { BATCHCAST_ENV: 'production.example' }).serve).toMatchObject({ host: '0.0.0.0', poolSize: 8 });
  });
});
