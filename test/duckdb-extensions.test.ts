// DuckDB extensions come from local files only (config duckdb.extensionDirectory, duckdb.extensions): never
// downloaded at run time. A configured extension that is missing fails with exit code 2 and a message that
// names the extension, where it was looked for, and what to do.
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { BadInputError, exitCodeOf } from '../src/errors.ts';
import { parseJob } from '../src/jobs/load-job.ts';
import { installExtensions, withDuckDB } from '../src/read/duckdb.ts';
import { predict } from '../src/run/predict.ts';
import { listRuns } from '../src/store/ledger.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-ext-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(opts: Parameters<typeof withDuckDB>[0]): Promise<Error> {
  const err = await withDuckDB(opts, async () => 'loaded').then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err, 'loading must fail').toBeInstanceOf(BadInputError);
  expect(exitCodeOf(err)).toBe(2);
  expect(err!.message).not.toContain('\n');
  return err!;
}

describe('withDuckDB extensions', () => {
  it('never installs or autoloads from the network, and LOADs a built-in extension by name', async () => {
    const settings = await withDuckDB({ extensions: ['json', 'parquet'] }, async (conn) => {
      const r = await conn.runAndReadAll(
        "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions'), (SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'json')",
      );
      return r.getRows()[0];
    });
    expect(settings).toEqual([false, false, true]);
  });

  it('a configured extension missing from an empty extension directory', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const err = await failure({ extensionDirectory: empty, extensions: ['httpfs'] });
    expect(err.message).toMatch(/^DuckDB extension "httpfs" is configured \(config duckdb.extensions\) but /);
    expect(err.message).toMatch(
      new RegExp(`${empty}/v\\d+\\.\\d+\\.\\d+/linux_\\w+/httpfs\\.duckdb_extension does not exist \\(extension directory ${empty}\\)`),
    );
    expect(err.message).toContain(`install it for DuckDB v`);
    expect(err.message).toContain(`SET extension_directory = '${empty}'; INSTALL httpfs;`);
    expect(err.message).toContain('or remove it from duckdb.extensions');
  });

  it('an extension directory that does not exist', async () => {
    const err = await failure({ extensionDirectory: path.join(dir, 'nope'), extensions: ['httpfs'] });
    expect(err.message).toContain(`(extension directory ${path.join(dir, 'nope')}, which does not exist either)`);
  });

  it('a configured extension file that does not exist', async () => {
    const file = path.join(dir, 'gone', 'spatial.duckdb_extension');
    const err = await failure({ extensions: [file] });
    expect(err.message).toContain(`DuckDB extension "${file}" is configured (config duckdb.extensions) but file ${file} does not exist`);
    expect(err.message).toMatch(/put the v[\d.]+ linux_\w+ build of the extension there, or fix duckdb.extensions/);
  });

  it('a file that is not a DuckDB extension', async () => {
    const file = path.join(dir, 'garbage.duckdb_extension');
    writeFileSync(file, Buffer.alloc(1024, 7));
    const err = await failure({ extensions: [file] });
    expect(err.message).toMatch(
      new RegExp(`^DuckDB extension "${file}" could not be loaded: .*not a DuckDB extension.*; put the v[\\d.]+ linux_\\w+ build`),
    );
  });
});

/**
 * Builds a real, loadable DuckDB extension offline: a C shared library with the C API entry point
 * <name>_init_c_api, plus the 512-byte footer DuckDB's build appends (scripts/append_metadata.cmake in
 * duckdb/duckdb): a WebAssembly custom-section header, 8 metadata fields of 32 bytes in reverse order
 * (magic "4", platform, C API version, extension version, ABI type), and 256 bytes of signature, left
 * empty: it is unsigned, as an extension built in house would be.
 */
function buildExtension(file: string, name: string, platform: string): void {
  const source = `${file}.c`;
  writeFileSync(
    source,
    `#include <stdbool.h>\n__attribute__((visibility("default"))) bool ${name}_init_c_api(void *info, void *access) { (void)info; (void)access; return true; }\n`,
  );
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', file, source]);
  const field = (s: string) => Buffer.concat([Buffer.from(s), Buffer.alloc(32 - s.length)]);
  const footer = Buffer.concat([
    Buffer.from([0, 147, 4, 16]),
    Buffer.from('duckdb_signature'),
    Buffer.from([128, 4]),
    ...['', '', '', 'C_STRUCT', 'v0.0.1', 'v1.2.0', platform, '4'].map(field),
    Buffer.alloc(256),
  ]);
  appendFileSync(file, footer);
}

describe('a real extension, built here', () => {
  const name = 'batchcast_probe';
  let version: string;
  let platform: string;
  let file: string;
  beforeAll(async () => {
    [version, platform] = await withDuckDB({}, async (conn) => {
      const r = await conn.runAndReadAll('SELECT version(), (SELECT platform FROM pragma_platform())');
      return r.getRows()[0].map(String);
    });
    file = path.join(dir, `${name}.duckdb_extension`);
    buildExtension(file, name, platform);
  });

  const loaded = (conn: Parameters<Parameters<typeof withDuckDB>[1]>[0]) =>
    conn.runAndReadAll(`SELECT loaded FROM duckdb_extensions() WHERE extension_name = '${name}'`).then((r) => r.getRows()[0]?.[0]);

  it('LOADs from a file path', async () => {
    expect(await withDuckDB({ extensions: [file], allowUnsignedExtensions: true }, loaded)).toBe(true);
  });

  it('LOADs by name from the extension directory, where INSTALL would have put it', async () => {
    const extDir = path.join(dir, 'installed');
    mkdirSync(path.join(extDir, version, platform), { recursive: true });
    copyFileSync(file, path.join(extDir, version, platform, `${name}.duckdb_extension`));
    expect(await withDuckDB({ extensionDirectory: extDir, extensions: [name], allowUnsignedExtensions: true }, loaded)).toBe(true);
  });

  it('refuses it unsigned unless duckdb.allowUnsignedExtensions is on', async () => {
    const err = await failure({ extensions: [file] });
    expect(err.message).toMatch(
      new RegExp(
        `^DuckDB extension "${file}" could not be loaded: .*signature is either missing or invalid and unsigned extensions are disabled`,
      ),
    );
  });
});

describe('installExtensions (image build time)', () => {
  // Only the paths that need no network are tested here: a download would leave this machine.
  it('skips built-in extensions and file entries, then loads everything as a run would', async () => {
    const target = path.join(dir, 'install-target');
    expect(await installExtensions(target, ['json', 'parquet'])).toEqual([]);
    const file = path.join(dir, 'bad-install.duckdb_extension');
    writeFileSync(file, Buffer.alloc(600, 1));
    const err = await installExtensions(target, ['json', file]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(exitCodeOf(err)).toBe(2);
    expect(err!.message).toMatch(/could not be loaded: .*not a DuckDB extension/);
  });
});

describe('config duckdb.*', () => {
  it('file < environment < flags, relative paths from the project root', () => {
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'config'), { recursive: true });
    writeFileSync(
      path.join(root, 'config', 'default.json'),
      JSON.stringify({ duckdb: { extensionDirectory: 'ext', extensions: ['httpfs'] } }),
    );
    expect(loadConfig({ root }, {}).duckdb).toEqual({
      extensionDirectory: path.join(root, 'ext'),
      extensions: ['httpfs'],
      allowUnsignedExtensions: false,
    });
    const env = {
      BATCHCAST_DUCKDB_EXTENSION_DIRECTORY: '/opt/duckdb/extensions',
      BATCHCAST_DUCKDB_EXTENSIONS: 'httpfs, aws ,lib/x.duckdb_extension',
    };
    expect(loadConfig({ root }, env).duckdb).toEqual({
      extensionDirectory: '/opt/duckdb/extensions',
      extensions: ['httpfs', 'aws', path.join(root, 'lib/x.duckdb_extension')],
      allowUnsignedExtensions: false,
    });
    expect(loadConfig({ root, duckdb: { extensions: [] } }, env).duckdb).toEqual({
      extensionDirectory: '/opt/duckdb/extensions',
      extensions: [],
      allowUnsignedExtensions: false,
    });
    expect(loadConfig({ root }, { BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS: 'true' }).duckdb.allowUnsignedExtensions).toBe(true);
  });

  it('refuses an entry that is neither a name nor a .duckdb_extension file', () => {
    expect(() => loadConfig({ root: dir, duckdb: { extensions: ['https://example.invalid/httpfs'] } }, {})).toThrow(
      /config duckdb.extensions: "https:\/\/example.invalid\/httpfs" is neither an extension name \(like httpfs\) nor a path to a .duckdb_extension file/,
    );
  });
});

describe('predict with a configured extension that is missing', () => {
  const date = '2026-11-20';
  let t: TestDb;
  let fx: Fixture;
  beforeAll(async () => {
    t = await createTestDb('ext');
    fx = await makeFixture({ name: 'ext', idType: 'int', output: 'top_k', featureMode: 'columns', users: 50, items: 20, dates: [date] });
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('fails the run with exit code 2, publishes nothing, and records why', async () => {
    const empty = path.join(dir, 'empty-for-predict');
    mkdirSync(empty);
    const config = loadConfig({ databaseUrl: t.url, root: fx.root, duckdb: { extensionDirectory: empty, extensions: ['httpfs'] } }, {});
    const err = await predict({ job: fx.job, date, config, db: t.db, log }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(exitCodeOf(err)).toBe(2);
    expect(err!.message).toContain('DuckDB extension "httpfs" is configured');
    const [run] = await listRuns(t.db.pool, { job: fx.job, date, limit: 1 });
    expect(run.status).toBe('failed');
    expect(run.error).toContain('DuckDB extension "httpfs"');
    const { rows } = await t.db.pool.query('select count(*)::int as n from batchcast.recommendations where job = $1', [fx.job]);
    expect(rows[0].n).toBe(0);
  });

  it('with the extension installed in the directory, the same run succeeds', async () => {
    const [version, platform] = await withDuckDB({}, async (conn) =>
      (await conn.runAndReadAll('SELECT version(), (SELECT platform FROM pragma_platform())')).getRows()[0].map(String),
    );
    const extDir = path.join(dir, 'for-predict');
    mkdirSync(path.join(extDir, version, platform), { recursive: true });
    buildExtension(path.join(extDir, version, platform, 'batchcast_probe.duckdb_extension'), 'batchcast_probe', platform);
    const config = loadConfig(
      {
        databaseUrl: t.url,
        root: fx.root,
        duckdb: { extensionDirectory: extDir, extensions: ['batchcast_probe'], allowUnsignedExtensions: true },
      },
      {},
    );
    const result = await predict({ job: fx.job, date, config, db: t.db, log });
    expect(result).toMatchObject({ rows: 50 });
  });
});

describe('features in object storage', () => {
  it('a URL in features.path is kept as it is, not resolved against the project root', () => {
    const job = parseJob(
      '/p/jobs/x.json',
      JSON.stringify({
        features: { path: 's3://bucket/features/x/dt=*/*.parquet', columns: ['a'] },
        model: { path: 'data/x/model.onnx', input: 'features', output: { kind: 'top_k', values: 'v', indices: 'i' } },
        items: { path: 'data/x/items.csv' },
        k: 10,
      }),
      '/p',
    );
    expect(job.features.path).toBe('s3://bucket/features/x/dt=*/*.parquet');
    expect(job.model.path).toBe('/p/data/x/model.onnx');
  });

  it('a URL without httpfs loaded fails the run with exit 2 and says which extension to configure', async () => {
    const t = await createTestDb('exturl');
    try {
      const fx = await makeFixture({
        name: 'exturl',
        idType: 'int',
        output: 'top_k',
        featureMode: 'columns',
        users: 20,
        items: 10,
        dates: ['2026-11-20'],
      });
      const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
      job.features.path = 's3://batchcast-test-bucket/features/dt=*/*.parquet';
      writeFileSync(fx.jobFile, JSON.stringify(job));
      const config = loadConfig({ databaseUrl: t.url, root: fx.root }, {});
      const err = await predict({ job: fx.job, date: '2026-11-20', config, db: t.db, log }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(exitCodeOf(err)).toBe(2);
      expect(err!.message).toBe(
        `job ${fx.job}, date 2026-11-20: features.path s3://batchcast-test-bucket/features/dt=*/*.parquet needs the DuckDB extension httpfs, which is not loaded; ` +
          'add "httpfs" to config duckdb.extensions (BATCHCAST_DUCKDB_EXTENSIONS), installed ahead of time in duckdb.extensionDirectory (the image does this, see deploy/kubernetes/Dockerfile)',
      );
    } finally {
      await t.drop();
    }
  });
});
