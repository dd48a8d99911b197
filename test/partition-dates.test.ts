// The dates a job has data for, read from file names: hive folders in both date formats, and paths with
// date placeholders (Spark's year=/month=/day=). Only names matter, so the files here are empty.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJob } from '../src/jobs/load-job.ts';
import { withDuckDB } from '../src/read/duckdb.ts';
import { partitionDates } from '../src/read/partition-dates.ts';

function project(files: string[], features: Record<string, unknown>) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-partition-dates-'));
  for (const f of files) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), '');
  }
  const job = {
    features: { columns: ['a'], ...features },
    model: { path: 'm.onnx', output: { kind: 'scores' } },
    items: { path: 'i.csv' },
  };
  return parseJob(path.join(root, 'jobs', 'x.json'), JSON.stringify(job), root);
}

describe('partitionDates', () => {
  it('hive folders, YYYY-MM-DD, skipping what is not a date', async () => {
    const job = project(['f/dt=2026-11-21/a.parquet', 'f/dt=2026-11-20/a.parquet', 'f/dt=2026-11-20/b.parquet', 'f/dt=latest/a.parquet'], {
      path: 'f/dt=*/*.parquet',
    });
    expect(await withDuckDB({}, (c) => partitionDates(c, job))).toEqual(['2026-11-20', '2026-11-21']);
  });

  it('hive folders, YYYYMMDD, another partition column', async () => {
    const job = project(['f/day=20261119/a.parquet', 'f/day=20261231/a.parquet'], {
      path: 'f/day=*/*.parquet',
      partition_column: 'day',
      partition_format: 'YYYYMMDD',
    });
    expect(await withDuckDB({}, (c) => partitionDates(c, job))).toEqual(['2026-11-19', '2026-12-31']);
  });

  it('placeholders: year={yyyy}/month={m}/day={d}', async () => {
    const job = project(
      ['f/year=2026/month=1/day=9/p.parquet', 'f/year=2025/month=12/day=31/p.parquet', 'f/year=2026/month=13/day=1/p.parquet'],
      {
        path: 'f/year={yyyy}/month={m}/day={d}/*.parquet',
      },
    );
    expect(await withDuckDB({}, (c) => partitionDates(c, job))).toEqual(['2025-12-31', '2026-01-09']);
  });
});
