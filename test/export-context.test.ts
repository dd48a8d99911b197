// An export says what it is: the Parquet file carries job, date, run, model version and K as key-value
// metadata (the keys of the Arrow export's schema metadata), read back with DuckDB's parquet_kv_metadata.
// A date whose run was held says so, and how to publish or export it, instead of "nothing is published";
// the held run exports by its id.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportGeneration } from '../src/export/export-generation.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';
import { type Published, publishFixture } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
const heldDate = '2026-11-21';
const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-export-context-'));
const env = () => ({ DATABASE_URL: t.url, BATCHCAST_ROOT: pub.fx.root });

beforeAll(async () => {
  t = await createTestDb('export_context');
  pub = await publishFixture(t, { name: 'ctx', users: 120, items: 30, k: 4, dates: ['2026-11-20', heldDate] });
  // A value gate no run can pass: the next date is written and held.
  const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
  writeFileSync(pub.fx.jobFile, JSON.stringify({ ...job, gates: { max_top_item_share: 0 } }, null, 2));
  const held = await runCli(['predict', '--job', 'ctx', '--date', heldDate], env());
  expect(held.code, held.stderr).toBe(6);
}, 120_000);
afterAll(async () => {
  await t?.drop();
});

async function kvMetadata(file: string): Promise<Record<string, string>> {
  return withDuckDB({}, async (conn) => {
    const r = await conn.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${sqlString(file)})`);
    return Object.fromEntries(r.getRows().map(([k, v]) => [String(k), String(v)]));
  });
}

describe('the Parquet export carries its context', () => {
  it('job, date, run, model version and K as key-value metadata, the same keys as Arrow', async () => {
    const out = path.join(dir, 'ctx.parquet');
    await exportGeneration({ pool: t.db.pool, job: 'ctx', date: pub.date, format: 'parquet', out });
    expect(await kvMetadata(out)).toMatchObject({
      'batchcast.job': 'ctx',
      'batchcast.prediction_date': pub.date,
      'batchcast.run_id': String(pub.runId),
      'batchcast.model_version': 'ctx-v1',
      'batchcast.k': '4',
    });
  });
});

describe('exporting a held date', () => {
  it('says it is held and how to publish or export it, and the held run exports with --run', async () => {
    const { rows } = await t.db.pool.query<{ run_id: string }>(
      `select run_id from batchcast.runs where job = 'ctx' and prediction_date = $1 and status = 'held'`,
      [heldDate],
    );
    const held = Number(rows[0].run_id);
    const out = path.join(dir, 'held.parquet');
    const r = await runCli(['export', '--job', 'ctx', '--date', heldDate, '--format', 'parquet', '--out', out], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`job ctx, date ${heldDate}: held: run ${held} was written but a gate of the job held it back`);
    expect(r.stderr).toContain(`publish it with \`batchcast publish --run ${held} --reason "..."\` or export it with --run ${held}`);
    expect(r.stderr).not.toContain('run `batchcast predict');

    const byRun = await runCli(
      ['export', '--job', 'ctx', '--date', heldDate, '--run', String(held), '--format', 'parquet', '--out', out],
      env(),
    );
    expect(byRun.code, byRun.stderr).toBe(0);
    expect(await kvMetadata(out)).toMatchObject({ 'batchcast.run_id': String(held), 'batchcast.prediction_date': heldDate });
  });
});
