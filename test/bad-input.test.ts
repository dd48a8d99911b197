// Bad input: every case fails the run with exit code 2 and a one-line message naming the job, date, file
// and column and saying what to do; nothing new is published, the run is marked failed with the reason,
// and the previous generation is still served.
import { cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel } from '../src/demo/build-model.ts';
import { BadInputError, exitCodeOf } from '../src/errors.ts';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { predict } from '../src/run/predict.ts';
import { listRuns } from '../src/store/ledger.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

const date = '2026-11-20';
let t: TestDb;
let cols: Fixture; // scalar columns, int ids, TopK model
let list: Fixture; // list column, string ids, scores model
let configs: Map<Fixture, Config>;

beforeAll(async () => {
  t = await createTestDb('badinput');
  cols = await makeFixture({ name: 'cols', idType: 'int', output: 'top_k', featureMode: 'columns', users: 300, items: 40, dates: [date] });
  list = await makeFixture({ name: 'list', idType: 'string', output: 'scores', featureMode: 'list', users: 300, items: 40, dates: [date] });
  configs = new Map([cols, list].map((fx) => [fx, loadConfig({ databaseUrl: t.url, root: fx.root }, {})]));
  for (const fx of [cols, list]) await predict({ job: fx.job, date, config: configs.get(fx)!, db: t.db, log });
});
afterAll(async () => {
  await t?.drop();
});

async function served(fx: Fixture) {
  const { rows } = await t.db.pool.query(
    'select run_id, count(*)::int as n, sum(score)::float8 as total from batchcast.recommendations where job = $1 and prediction_date = $2 group by run_id',
    [fx.job, date],
  );
  return rows;
}

/** Runs the case with some files replaced, then restores them; asserts the common outcome. */
async function expectRejected(fx: Fixture, mutate: () => Promise<void> | void, ...parts: (string | RegExp)[]) {
  const saved = path.join(fx.root, 'saved');
  rmSync(saved, { recursive: true, force: true });
  cpSync(path.join(fx.root, 'data'), path.join(saved, 'data'), { recursive: true });
  cpSync(fx.jobsDir, path.join(saved, 'jobs'), { recursive: true });
  const before = await served(fx);
  try {
    await mutate();
    const err = await predict({ job: fx.job, date, config: configs.get(fx)!, db: t.db, log }).then(
      () => undefined,
      (e) => e,
    );
    expect(err, 'the run must fail').toBeInstanceOf(BadInputError);
    expect(exitCodeOf(err)).toBe(2);
    const msg: string = err.message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(`job ${fx.job}`);
    for (const p of parts) expect(msg).toMatch(p);
    expect(await served(fx)).toEqual(before);
    const [last] = await listRuns(t.db.pool, { job: fx.job, date, limit: 1 });
    if (last.status !== 'succeeded' || last.run_id !== before[0].run_id) {
      expect(last.status).toBe('failed');
      expect(last.error).toContain(msg.slice(0, 60));
    }
    return msg;
  } finally {
    rmSync(path.join(fx.root, 'data'), { recursive: true, force: true });
    rmSync(fx.jobsDir, { recursive: true, force: true });
    cpSync(path.join(saved, 'data'), path.join(fx.root, 'data'), { recursive: true });
    cpSync(path.join(saved, 'jobs'), fx.jobsDir, { recursive: true });
  }
}

const part = (fx: Fixture, n = 0) => path.join(fx.featuresDir, `dt=${date}`, `part-${n}.parquet`);

/** Replaces the date's partition with Parquet written from a DuckDB SELECT (one file per query). */
async function writePartition(fx: Fixture, ...selects: string[]) {
  const dir = path.join(fx.featuresDir, `dt=${date}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await withDuckDB({}, async (conn) => {
    for (const [n, sql] of selects.entries()) await conn.run(`COPY (${sql}) TO ${sqlString(part(fx, n))} (FORMAT parquet)`);
  });
}

const f = (j: number) => `((hash(i, ${j}) % 1000)::FLOAT / 1000) AS f${j}`;
const colsSelect = (from: number, to: number, override: Record<number, string> = {}) =>
  `SELECT i AS user_id, ${[0, 1, 2, 3, 4, 5].map((j) => override[j] ?? f(j)).join(', ')} FROM range(${from}, ${to}) t(i)`;

function editJob(fx: Fixture, edit: (job: Record<string, any>) => void) {
  const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
  edit(job);
  writeFileSync(fx.jobFile, JSON.stringify(job));
}

describe('bad partitions', () => {
  it('a missing partition', async () => {
    await expectRejected(
      cols,
      () => rmSync(path.join(cols.featuresDir, `dt=${date}`), { recursive: true }),
      `date ${date}`,
      /no features partition/,
      /dt=2026-11-20/,
    );
  });

  it('a partition with zero rows, below min_rows', async () => {
    await expectRejected(
      cols,
      async () => {
        editJob(cols, (j) => {
          j.min_rows = 100;
        });
        await writePartition(cols, colsSelect(0, 0));
      },
      /part-0\.parquet/,
      /0 rows, fewer than the job's min_rows 100/,
    );
  });

  it('a partition with some rows, but fewer than min_rows', async () => {
    await expectRejected(
      cols,
      async () => {
        editJob(cols, (j) => {
          j.min_rows = 100;
        });
        await writePartition(cols, colsSelect(1, 50));
      },
      /49 rows, fewer than the job's min_rows 100/,
    );
  });

  it('a missing column', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, colsSelect(1, 100).replace(`, ${f(3)}`, '')),
      /part-0\.parquet/,
      /column "f3" is missing/,
      /fix the export or the job/,
    );
  });

  it('a renamed column', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, colsSelect(1, 100, { 3: f(3).replace(/AS f3$/, 'AS feature_3') })),
      /column "f3" is missing/,
      /feature_3/,
    );
  });

  it('an extra column', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, `SELECT *, 1.0::FLOAT AS surprise FROM (${colsSelect(1, 100)})`),
      /column\(s\) "surprise" are not in the job's features/,
      /allow_extra_columns/,
    );
  });

  it('a column of the wrong type', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, colsSelect(1, 100, { 2: `'high' AS f2` })),
      /column "f2" is VARCHAR, expected a number/,
    );
  });

  it('a list column of the wrong length', async () => {
    await expectRejected(
      list,
      () =>
        writePartition(
          list,
          `SELECT 'u' || i AS user_id, CASE WHEN i = 7 THEN [0.1, 0.2]::FLOAT[] ELSE list_transform(range(6), j -> 0.1::FLOAT) END AS features FROM range(1, 100) t(i)`,
        ),
      /column "features" has 1 row\(s\) whose length is not 6/,
    );
  });

  it('a NULL user id', async () => {
    await expectRejected(
      cols,
      () =>
        writePartition(
          cols,
          colsSelect(1, 100),
          `SELECT CASE WHEN i = 150 THEN NULL ELSE i END AS user_id, ${[0, 1, 2, 3, 4, 5].map(f).join(', ')} FROM range(100, 200) t(i)`,
        ),
      /part-1\.parquet/,
      /column "user_id" is NULL in 1 row/,
    );
  });

  it('duplicate user ids within one file', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, `${colsSelect(1, 100)} UNION ALL ${colsSelect(42, 43)}`),
      /part-0\.parquet: column "user_id" has 1 duplicated id\(s\), e\.g\. 42 appears 2 times/,
      /dedupe/,
    );
  });

  it('duplicate user ids across files', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, colsSelect(1, 100), colsSelect(90, 200)),
      /part-0\.parquet and .*part-1\.parquet/,
      /10 duplicated id/,
    );
  });

  it('a truncated Parquet file', async () => {
    await expectRejected(cols, () => truncateSync(part(cols, 1), 200), /part-1\.parquet: not readable as Parquet/, /re-export/);
  });

  it('a corrupt Parquet file (garbage in the middle, footer intact)', async () => {
    await expectRejected(
      cols,
      async () => {
        await writePartition(cols, colsSelect(1, 3000));
        const buf = readFileSync(part(cols, 0));
        buf.fill(0x5a, 100, buf.length - 200);
        writeFileSync(part(cols, 0), buf);
      },
      /part-0\.parquet/,
    );
  });
});

describe('bad model or items', () => {
  it('a missing model file', async () => {
    await expectRejected(cols, () => rmSync(path.join(cols.root, 'data', 'cols', 'model.onnx')), /model file .*model\.onnx not found/);
  });

  it('a corrupt model file', async () => {
    await expectRejected(
      cols,
      () => writeFileSync(path.join(cols.root, 'data', 'cols', 'model.onnx'), 'garbage'),
      /cannot load ONNX model .*model\.onnx/,
    );
  });

  it('a model input name that does not match the job', async () => {
    await expectRejected(
      cols,
      () =>
        editJob(cols, (j) => {
          j.model.input = 'user_features';
        }),
      /has no input "user_features" \(inputs: features\)/,
      /fix model\.input/,
    );
  });

  it('a model input shape that does not match the job', async () => {
    await expectRejected(
      cols,
      () =>
        editJob(cols, (j) => {
          j.features.columns = ['f0', 'f1', 'f2', 'f3', 'f4'];
          j.features.allow_extra_columns = true;
        }),
      /rejects input "features" of shape \[batch, 5\]/,
    );
  });

  it('a model output shape that does not match the items file', async () => {
    await expectRejected(
      list,
      () =>
        writeFileSync(
          path.join(list.root, 'data', 'list', 'items.csv'),
          'idx,item_id\n' + Array.from({ length: 30 }, (_, i) => `${i},x${i}`).join('\n'),
        ),
      /output "scores" has shape \[1, 40\] per user row, but the items file has 30 items/,
    );
  });

  it('an items file with fewer items than the model outputs (TopK model)', async () => {
    await expectRejected(
      cols,
      () =>
        writeFileSync(
          path.join(cols.root, 'data', 'cols', 'items.csv'),
          'idx,item_id\n' + Array.from({ length: 5 }, (_, i) => `${i},x${i}`).join('\n'),
        ),
      /model returned item index \d+ for user \d+, but the items file has only 5 items/,
    );
  });

  it('a model whose scores come out NaN is never published', async () => {
    await expectRejected(
      list,
      () => {
        const w = { ...list.weights, itemsT: Float32Array.from(list.weights.itemsT) };
        w.itemsT[3] = NaN; // item 3 scores NaN for every user
        writeFileSync(
          path.join(list.root, 'data', 'list', 'model.onnx'),
          buildTwoTowerModel(w, { k: list.k, output: 'scores', version: 'nan' }),
        );
      },
      /model produced a NaN score/,
    );
  });
});

describe('bad rows', () => {
  it('Inf in a feature fails a reject job, naming user, column and file', async () => {
    await expectRejected(
      cols,
      () => writePartition(cols, colsSelect(1, 100), colsSelect(100, 200, { 4: `CASE WHEN i = 160 THEN 'inf'::FLOAT ELSE 0.5 END AS f4` })),
      /part-1\.parquet: user 160: feature f4 is Infinity/,
      /bad_rows\.mode/,
    );
  });

  it('a skip job publishes the good rows and dead-letters the bad ones, within max_bad_fraction', async () => {
    // f1 is constant in the good rows: the guardrails would hold that (a feature gone flat); this test is about bad rows
    editJob(cols, (j) => {
      j.bad_rows = { mode: 'skip', max_bad_fraction: 0.05 };
      j.gates = { enabled: false };
    });
    try {
      await writePartition(
        cols,
        colsSelect(1, 201, { 1: `CASE WHEN i % 50 = 0 THEN NULL WHEN i = 7 THEN 'nan'::FLOAT ELSE 0.25 END AS f1` }),
      );
      const r = await predict({ job: cols.job, date, config: configs.get(cols)!, db: t.db, log });
      expect(r.rows).toBe(195);
      expect(r.rejected).toBe(5);
      const { rows } = await t.db.pool.query(
        'select user_id, reason from batchcast.rejected_rows where run_id = $1 order by user_id::int',
        [r.runId],
      );
      expect(rows).toEqual([
        { user_id: '7', reason: 'feature f1 is NaN or NULL' },
        ...[50, 100, 150, 200].map((u) => ({ user_id: String(u), reason: 'feature f1 is NaN or NULL' })),
      ]);
      const [run] = await listRuns(t.db.pool, { job: cols.job, date, limit: 1 });
      expect(run).toMatchObject({ run_id: r.runId, status: 'succeeded', rows_read: 200, rows_written: 195, rows_rejected: 5 });
      const n = await t.db.pool.query(
        'select count(distinct user_id)::int as n from batchcast.recommendations where job = $1 and prediction_date = $2',
        [cols.job, date],
      );
      expect(n.rows[0].n).toBe(195);
    } finally {
      editJob(cols, (j) => {
        delete j.bad_rows;
        delete j.gates;
      });
    }
  });

  it('a skip job over max_bad_fraction fails and publishes nothing', async () => {
    await expectRejected(
      cols,
      async () => {
        editJob(cols, (j) => {
          j.bad_rows = { mode: 'skip', max_bad_fraction: 0.01 };
        });
        await writePartition(cols, colsSelect(1, 201, { 1: `CASE WHEN i % 20 = 0 THEN NULL ELSE 0.25 END AS f1` }));
      },
      /10 of 200 rows are bad \(5\.00%/,
      /over bad_rows\.max_bad_fraction 0\.01/,
    );
  });
});
