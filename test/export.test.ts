// Bulk export of a real generation, read back with a reader the export did not use and compared with the
// view exactly: apache-arrow's readers for Arrow (file, stdout of the real CLI, and the HTTP route), DuckDB
// for Parquet, CSV and JSON Lines. Nothing published is a clear error (exit 2), and a file is never partial.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { RecordBatchReader, type Table, tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel, randomTwoTower } from '../src/demo/build-model.ts';
import { type ExportFormat, exportGeneration } from '../src/export/export-generation.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { predict } from '../src/run/predict.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let firstRunId: number;
let server: TestServer;
const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-export-test-'));
const bin = path.resolve('bin/batchcast.js');

interface Row {
  user_id: string;
  item_ids: string[];
  scores: number[];
}

beforeAll(async () => {
  t = await createTestDb('export');
  // 2,500 users with non-ASCII ids, exported in chunks of 1,000: several record batches, a ragged last one.
  // Gates off: the retrained model below changes item popularity entirely, which the guardrails would hold.
  pub = await publishFixture(t, { name: 'exp', users: 2500, items: 70, k: 7, job: { gates: { enabled: false } } });
  firstRunId = pub.runId;
  // A second generation of the same date from a retrained model: it is what is published now, and the
  // first, whose rows differ, stays exportable with --run.
  writeFileSync(
    path.join(pub.fx.root, 'data', 'exp', 'model.onnx'),
    buildTwoTowerModel(randomTwoTower({ inputSize: 6, hidden: 12, embedding: 8, items: 70 }, 5), {
      k: 7,
      output: 'top_k',
      version: 'exp-v2',
    }),
  );
  const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  pub.runId = (await predict({ job: pub.fx.job, date: pub.date, config, db: t.db, log })).runId;
  server = await startTestServer(t.url, pub.fx.root);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

/** The reference: the view, one row per user in user id order, scores as the float32 they are. */
async function fromView(runId?: number): Promise<Row[]> {
  const { rows } =
    runId === undefined
      ? await t.db.pool.query<Row>(
          `select user_id, array_agg(item_id order by rank) as item_ids, array_agg(score order by rank) as scores
         from batchcast.recommendations where job = $1 and prediction_date = $2 group by user_id order by user_id collate "C"`,
          [pub.fx.job, pub.date],
        )
      : await t.db.pool.query<Row>(
          `select x.user_id, coalesce(x.item_ids, batchcast.item_ids(r.items_sha256, x.item_idx)) as item_ids, x.scores
         from batchcast.predictions x join batchcast.runs r using (run_id) where run_id = $1 order by x.user_id`,
          [runId],
        );
  return rows.map((r) => ({ ...r, scores: r.scores.map(Math.fround) }));
}

function fromArrow(table: Table): Row[] {
  expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(['user_id:Utf8', 'item_ids:List<Utf8>', 'scores:List<Float32>']);
  return table.toArray().map((r) => ({ user_id: r.user_id, item_ids: [...r.item_ids], scores: [...r.scores] }));
}

async function fromDuckDB(sql: string): Promise<Row[]> {
  return withDuckDB({}, async (conn) =>
    (await conn.runAndReadAll(sql)).getRowObjectsJS().map((r) => ({
      user_id: r.user_id as string,
      item_ids: [...(r.item_ids as string[])],
      scores: (r.scores as number[]).map(Number),
    })),
  );
}

function exportTo(format: ExportFormat, runId?: number) {
  const out = path.join(dir, `${format}-${runId ?? 'published'}.${format}`);
  return exportGeneration({ pool: t.db.pool, job: pub.fx.job, date: pub.date, runId, format, out, chunkRows: 1000 }).then((r) => ({
    ...r,
    file: out,
  }));
}

describe('export files equal the view', () => {
  it('Arrow IPC, read back with apache-arrow, in record batches of bounded size', async () => {
    const want = await fromView();
    expect(want).toHaveLength(2500);
    const r = await exportTo('arrow');
    expect(r).toMatchObject({ rows: 2500, generation: { runId: pub.runId, k: 7 } });
    const bytes = readFileSync(r.file);
    const table = tableFromIPC(bytes);
    expect(fromArrow(table)).toEqual(want);
    expect(table.schema.metadata.get('batchcast.run_id')).toBe(String(pub.runId));
    const reader = RecordBatchReader.from(bytes);
    const sizes = [...reader].map((b) => b.numRows);
    expect(sizes).toEqual([1000, 1000, 500]);
  });

  it('Parquet, read back with DuckDB', async () => {
    const r = await exportTo('parquet');
    expect(await fromDuckDB(`SELECT user_id, item_ids, scores FROM read_parquet(${sqlString(r.file)})`)).toEqual(await fromView());
  });

  it('CSV (one row per user and rank, like the view), read back with DuckDB', async () => {
    const r = await exportTo('csv');
    const got = await fromDuckDB(`SELECT user_id, list(item_id ORDER BY rank) AS item_ids, list(score ORDER BY rank) AS scores
      FROM read_csv(${sqlString(r.file)}, header = true, columns = {'user_id': 'VARCHAR', 'rank': 'INTEGER', 'item_id': 'VARCHAR', 'score': 'FLOAT'})
      GROUP BY user_id ORDER BY user_id`);
    expect(got).toEqual(await fromView());
    expect(readFileSync(r.file, 'utf8').split('\n', 1)[0]).toBe('user_id,rank,item_id,score');
  });

  it('JSON Lines, read back with DuckDB', async () => {
    const r = await exportTo('jsonl');
    expect(
      await fromDuckDB(`SELECT user_id, item_ids, scores FROM read_json(${sqlString(r.file)}, format = 'newline_delimited',
      columns = {'user_id': 'VARCHAR', 'item_ids': 'VARCHAR[]', 'scores': 'FLOAT[]'})`),
    ).toEqual(await fromView());
  });

  it('--run exports an older generation of the date', async () => {
    const r = await exportTo('arrow', firstRunId);
    expect(r.generation.runId).toBe(firstRunId);
    const want = await fromView(firstRunId);
    expect(want).not.toEqual(await fromView());
    expect(fromArrow(tableFromIPC(readFileSync(r.file)))).toEqual(want);
  });
});

describe('the CLI', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [bin, 'export', ...args], {
      env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_LOG_LEVEL: 'warn' },
      maxBuffer: 64 << 20,
    });

  it('--out - writes the Arrow stream to stdout', async () => {
    const p = run('--job', pub.fx.job, '--date', pub.date, '--format', 'arrow', '--out', '-');
    expect(p.status, p.stderr.toString()).toBe(0);
    expect(fromArrow(tableFromIPC(p.stdout))).toEqual(await fromView());
  }, 60_000);

  it('a job/date with nothing published exits 2 naming them, and leaves no file', () => {
    const out = path.join(dir, 'none.parquet');
    const p = run('--job', pub.fx.job, '--date', '2026-01-02', '--format', 'parquet', '--out', out);
    expect(p.status).toBe(2);
    expect(p.stderr.toString()).toMatch(/job exp, date 2026-01-02: nothing is published/);
    expect(existsSync(out)).toBe(false);
    const bad = run('--job', pub.fx.job, '--date', pub.date, '--format', 'xlsx', '--out', out);
    expect(bad.status).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--format "xlsx" is not a format: use arrow, parquet, csv, jsonl/);
    const wrongRun = run('--job', pub.fx.job, '--date', '2026-11-19', '--run', String(firstRunId), '--format', 'csv', '--out', out);
    expect(wrongRun.status).toBe(2);
    expect(wrongRun.stderr.toString()).toMatch(new RegExp(`run ${firstRunId} belongs to job exp, date ${pub.date}`));
  }, 60_000);
});

describe('GET /v1/jobs/{job}/dates/{date}/export.arrow', () => {
  function download(base: string, target: string): Promise<{ status: number; type: string | undefined; body: Buffer }> {
    return new Promise((resolve, reject) => {
      http
        .get(`${base}${target}`, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(parts) }));
        })
        .on('error', reject);
    });
  }

  it('streams the published generation as Arrow IPC', async () => {
    const a = await download(server.url, `/v1/jobs/${pub.fx.job}/dates/${pub.date}/export.arrow`);
    expect(a.status).toBe(200);
    expect(a.type).toBe('application/vnd.apache.arrow.stream');
    expect(fromArrow(tableFromIPC(a.body))).toEqual(await fromView());
  });

  it('answers 404 naming the job and date when nothing is published, 400 for a bad date or job', async () => {
    const none = await get(server.url, `/v1/jobs/${pub.fx.job}/dates/2026-01-02/export.arrow`);
    expect(none.status).toBe(404);
    expect(none.json.message).toMatch(/job exp, date 2026-01-02: nothing is published/);
    expect((await get(server.url, `/v1/jobs/${pub.fx.job}/dates/2026-02-30/export.arrow`)).json).toMatchObject({ parameter: 'date' });
    expect((await get(server.url, `/v1/jobs/nope/dates/${pub.date}/export.arrow`)).json).toMatchObject({ parameter: 'job' });
  });

  it('is turned off by serve.exports = false (403, saying so)', async () => {
    const off = await startTestServer(t.url, pub.fx.root, { exports: false });
    try {
      const a = await get(off.url, `/v1/jobs/${pub.fx.job}/dates/${pub.date}/export.arrow`);
      expect(a.status).toBe(403);
      expect(a.json.message).toMatch(/serve\.exports = false/);
    } finally {
      await off.stop();
    }
  });
});
