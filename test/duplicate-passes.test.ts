// The duplicate-id check of a partition too big for one aggregate (100M ids did not fit DuckDB's 128 MB):
// checked in passes over hash slices of the ids, here forced with a tiny slice size on a real Parquet
// partition, so a duplicate is found whichever slice it falls in, and named with its files.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../src/jobs/load-job.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { inspectPartition } from '../src/read/read-features.ts';

const date = '2026-11-20';
let root: string;
let dir: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-dup-passes-'));
  dir = path.join(root, 'features', `dt=${date}`);
  mkdirSync(dir, { recursive: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const job = () =>
  parseJob(
    'passes.json',
    JSON.stringify({
      features: { path: 'features/dt=*/*.parquet', partition_column: 'dt', user_id_column: 'user_id', columns: ['x'] },
      model: { path: 'model.onnx', output: { kind: 'scores', name: 'scores' } },
      items: { path: 'items.csv' },
    }),
    root,
  );

/** Files of `user_id, x` rows for the id ranges given, one file each. */
async function write(ranges: [number, number][]): Promise<string[]> {
  return withDuckDB({ threads: 1 }, async (conn) =>
    Promise.all(
      ranges.map(async ([a, b], i) => {
        const file = path.join(dir, `part-${i}.parquet`);
        await conn.run(
          `COPY (SELECT i::BIGINT AS user_id, 0.5::FLOAT AS x FROM range(${a}, ${b}) t(i)) TO ${sqlString(file)} (FORMAT parquet)`,
        );
        return file;
      }),
    ),
  );
}

describe('duplicate ids in passes', () => {
  it('finds no duplicate in a clean partition, in 10 passes as in one', async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = await write([
      [0, 500],
      [500, 1000],
    ]);
    const p = await withDuckDB({ threads: 2 }, (conn) => inspectPartition(conn, job(), date, files, { rowsPerDuplicatePass: 100 }));
    expect(p.rows).toBe(1000);
  });

  it('finds ids repeated across files whichever hash slice they fall in, and names both files', async () => {
    for (const dupe of [3, 777, 999]) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const files = await write([
        [0, 1000],
        [dupe, dupe + 1],
      ]);
      const run = (perPass: number) =>
        withDuckDB({ threads: 2 }, (conn) => inspectPartition(conn, job(), date, files, { rowsPerDuplicatePass: perPass }));
      await expect(run(100)).rejects.toThrow(
        new RegExp(
          `part-0\\.parquet and .*part-1\\.parquet: column "user_id" has at least 1 duplicated id\\(s\\), e\\.g\\. ${dupe} appears 2 times`,
        ),
      );
      await expect(run(1_000_000)).rejects.toThrow(new RegExp(`has 1 duplicated id\\(s\\), e\\.g\\. ${dupe} appears 2 times`));
    }
  });
});
