// `batchcast sql --duckdb` through the CLI: SQL over a job's own files with views named after its inputs,
// inspecting a Parquet file and writing one with COPY ... TO; errors name the views. No database is used.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture } from './fixtures.ts';
import { runCli } from './run-cli.ts';

let fx: Fixture;
const dates = ['2026-11-19', '2026-11-20'];

beforeAll(async () => {
  fx = await makeFixture({ name: 'shop', idType: 'string', output: 'top_k', featureMode: 'columns', users: 30, items: 12, dates });
});

// An unreachable DATABASE_URL: --duckdb must not touch PostgreSQL at all.
const sql = (args: string[]) =>
  runCli(['sql', '--duckdb', ...args], { BATCHCAST_ROOT: fx.root, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });

describe('sql --duckdb', () => {
  it("reads the job's features, every date with its partition column, and its items", async () => {
    const r = await sql([
      '--json',
      'select dt::varchar as dt, count(*) as users, count(distinct user_id) as ids from features group by dt order by dt',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(dates.map((dt) => ({ dt, users: 30, ids: 30 })));
    const items = await sql(['select count(*) as n, min(item_id) as first from items']);
    expect(items.code, items.stderr).toBe(0);
    expect(items.stdout).toMatch(/^n\s+first\n.*\n12\s+item-0\n\(1 row\)\n$/);
  });

  it('writes Parquet with COPY ... TO and reads it back, in one call', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'batchcast-duckdb-')), 'day.parquet');
    const r = await sql([
      '--json',
      `COPY (select * exclude (dt) from features where dt = '2026-11-20' order by user_id) TO '${out}' (FORMAT parquet);
       select count(*) as rows, count(distinct user_id) as users from read_parquet('${out}')`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ rows: 30, users: 30 }]);
    const schema = await sql(['--csv', `select name, type from parquet_schema('${out}') where name <> 'duckdb_schema' order by name`]);
    expect(schema.stdout.trim().split('\n')).toEqual([
      'name,type',
      'f0,FLOAT',
      'f1,FLOAT',
      'f2,FLOAT',
      'f3,FLOAT',
      'f4,FLOAT',
      'f5,FLOAT',
      'user_id,BYTE_ARRAY',
    ]);
  });

  it('a wrong query exits 2 naming the views; several jobs get prefixed views', async () => {
    const bad = await sql(['select * from featurez']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/sql --duckdb: Catalog Error: Table with name featurez does not exist!.*\(views: features, items\)/);
    writeFileSync(path.join(fx.jobsDir, 'shop2.json'), readFileSync(fx.jobFile, 'utf8'));
    const both = await sql(['--json', 'select (select count(*) from shop_features) as a, (select count(*) from shop2_items) as b']);
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse(both.stdout)).toEqual([{ a: 60, b: 12 }]);
    const one = await sql(['--job', 'shop2', '--json', 'select count(*) as n from features']);
    expect(JSON.parse(one.stdout)).toEqual([{ n: 60 }]);
  });
});
