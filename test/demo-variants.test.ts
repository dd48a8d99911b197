// `batchcast demo --model int8`: the same data, another variant of the same model, published and shown.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from './helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function demo(root: string, url: string, extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [
    path.join(repo, 'bin', 'batchcast.js'),
    'demo',
    '--users',
    '2000',
    '--items',
    '300',
    '--days',
    '1',
    '--end-date',
    '2026-11-20',
    ...extra,
  ];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { env: { ...process.env, BATCHCAST_ROOT: root, DATABASE_URL: url }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb('demo_variants');
});
afterAll(async () => {
  await t?.drop();
});

describe('batchcast demo --model', () => {
  it('runs fp32, then int8 on the same data, and records which model made each run', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-demo-variants-'));
    mkdirSync(path.join(root, 'jobs'));

    const fp32 = await demo(root, t.url, []);
    expect(fp32.code, fp32.stderr).toBe(0);
    expect(fp32.stdout).toContain('model walking-routes-2026.11.1)');
    const features = readFileSync(path.join(root, 'data/demo/features/dt=2026-11-20/part-00000.parquet'));

    const int8 = await demo(root, t.url, ['--model', 'int8']);
    expect(int8.code, int8.stderr).toBe(0);
    expect(int8.stdout).toContain("Published 2,000 users' recommendations for 2026-11-20 (job demo");
    expect(int8.stdout).toContain('model walking-routes-2026.11.1-int8)');
    expect(int8.stdout).toMatch(/User 1: likes/);
    expect(int8.stdout).toContain('This ran the int8 variant of the model');
    expect(fp32.stdout).not.toContain('variant of the model');
    // only the model was rewritten: the features are the same bytes
    expect(readFileSync(path.join(root, 'data/demo/features/dt=2026-11-20/part-00000.parquet')).equals(features)).toBe(true);
    const card = JSON.parse(readFileSync(path.join(root, 'data/demo/model.card.json'), 'utf8'));
    expect([card.precision, card.version]).toEqual(['int8', 'walking-routes-2026.11.1-int8']);
    const { rows } = await t.db.pool.query<{ model_version: string }>(
      "select model_version from batchcast.runs where job = 'demo' and status = 'succeeded' order by run_id",
    );
    expect(rows.map((r) => r.model_version)).toEqual(['walking-routes-2026.11.1', 'walking-routes-2026.11.1-int8']);
  }, 240_000);

  it('names the variants it knows when given another', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-demo-variants-'));
    const r = await demo(root, t.url, ['--model', 'int4']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--model.*int4.*fp32, int8, fp16, fp16-compute/s);
  });
});
