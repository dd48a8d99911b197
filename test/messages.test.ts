// Messages that point the right way (issue 26, item 10), each through the real CLI: a JSON error by line
// and column; a wrong type named in plain words without the validator's dump; a partition_column that
// disagrees with the glob named against the glob's own partition name, not blamed on the export; a wrong
// items.id_column with the columns the file has, not DuckDB's binder error and our SQL; a database that
// does not exist is a configuration error (exit 2), not "retry later" (exit 4).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb, withDatabase } from './helpers.ts';
import { runCli } from './run-cli.ts';

const date = '2026-11-20';
let t: TestDb;
let fx: Fixture;
let good: string;

beforeAll(async () => {
  t = await createTestDb('messages');
  fx = await makeFixture({
    name: 'msg',
    idType: 'string',
    output: 'top_k',
    featureMode: 'columns',
    users: 50,
    items: 20,
    k: 3,
    dates: [date],
  });
  good = readFileSync(fx.jobFile, 'utf8');
});
afterAll(async () => {
  await t?.drop();
});

const env = (url = t.url) => ({ DATABASE_URL: url, BATCHCAST_ROOT: fx.root });
const dryRun = () => runCli(['predict', '--job', 'msg', '--date', date, '--dry-run'], env());
function withJob(edit: (job: Record<string, any>) => void): string {
  const job = JSON.parse(good);
  edit(job);
  return JSON.stringify(job, null, 2);
}

describe('messages that point the right way', () => {
  it('a trailing comma: the line and column of the JSON error, not a character position', async () => {
    // line 4 is `"k": 3,` followed by the closing brace
    writeFileSync(
      fx.jobFile,
      `{\n  "features": ${JSON.stringify(JSON.parse(good).features)},\n  "model": ${JSON.stringify(JSON.parse(good).model)},\n  "items": ${JSON.stringify(JSON.parse(good).items)},\n  "k": 3,\n}\n`,
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`job file ${fx.jobFile} is not valid JSON: line 6, column 1:`);
    expect(r.stderr).toContain('a trailing comma: JSON allows none; remove it');
    expect(r.stderr).not.toContain('position');
  });

  it('"k": "20": the key and the expected type in plain words, no validator dump', async () => {
    writeFileSync(
      fx.jobFile,
      withJob((j) => {
        j.k = '20';
      }),
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `batchcast: job file ${fx.jobFile}: field "k" must be an integer between 1 and 1000 (got the string "20": write the number without quotes)`,
    );
  });

  it('an expectation bound "0" in quotes gets the same plain words', async () => {
    writeFileSync(
      fx.jobFile,
      withJob((j) => {
        j.expectations = { columns: { f0: { between: { min: '0' } } } };
      }),
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('must be a number (got the string "0": write the number without quotes)');
  });

  it("a partition_column that disagrees with the glob names the glob's partition name, and does not blame the export", async () => {
    writeFileSync(
      fx.jobFile,
      withJob((j) => {
        j.features.partition_column = 'snapshot_date';
      }),
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `job msg, date ${date}: features.partition_column is "snapshot_date" but features.path ${path.join(fx.root, 'data/msg/features/dt=*/*.parquet')} partitions by "dt"; set "partition_column": "dt" in ${fx.jobFile}`,
    );
    expect(r.stderr).not.toContain('upstream export');
  });

  it('a partition_format that disagrees with the folders says which format they use', async () => {
    writeFileSync(
      fx.jobFile,
      withJob((j) => {
        j.features.partition_format = 'YYYYMMDD';
      }),
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `the files write the date as dt=${date} but features.partition_format is YYYYMMDD; set "partition_format": "YYYY-MM-DD"`,
    );
  });

  it('a wrong items.id_column lists the columns the items file has, without the binder error or SQL', async () => {
    writeFileSync(
      fx.jobFile,
      withJob((j) => {
        j.items.id_column = 'sku';
      }),
    );
    const r = await dryRun();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('items.id_column "sku" is not a column of the file (its columns: "idx", "item_id"); fix the job');
    expect(r.stderr).not.toMatch(/Binder|SELECT/);
  });

  it('a database that does not exist exits 2 (configuration), not 4 (retry later)', async () => {
    writeFileSync(fx.jobFile, good);
    const r = await runCli(['predict', '--job', 'msg', '--date', date, '--dry-run'], env(withDatabase(t.url, 'bc_no_such_database')));
    expect(r.stderr).toContain('database "bc_no_such_database" does not exist');
    expect(r.stderr).toContain('createdb bc_no_such_database');
    expect(r.code).toBe(2);
  });
});
