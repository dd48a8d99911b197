// A unit error on one demo feature through the real pipeline: two demo days (the src/demo generator, seed 7),
// the first published, the second with FEATURE multiplied by FACTOR in its Parquet; prints the held line.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/experiments/demo-unit-error.ts [FEATURE] [FACTOR]
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.ts';
import { openDb } from '../../src/db/connect.ts';
import { generateDemo } from '../../src/demo/generate.ts';
import { FEATURE_COLUMNS } from '../../src/demo/walking-routes.ts';
import { silentLogger as log } from '../../src/log.ts';
import { sqlIdent, sqlString, withDuckDB } from '../../src/read/duckdb.ts';
import { predict } from '../../src/run/predict.ts';

const feature = process.argv[2] ?? 'preferred_km';
const factor = Number(process.argv[3] ?? 100);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(path.join(os.tmpdir(), 'batchcast-unit-'));
mkdirSync(path.join(root, 'jobs'));
copyFileSync(path.join(repo, 'demo', 'demo.json'), path.join(root, 'jobs', 'demo.json'));
const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL to a server where a database of its own may be created');
const name = `bc_demo_unit_${process.pid}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`create database ${name}`);
const dbUrl = Object.assign(new URL(url), { pathname: `/${name}` }).toString();
const db = await openDb(loadConfig({ databaseUrl: dbUrl }, {}), { poolSize: 4 });
try {
  const out = path.join(root, 'data', 'demo');
  const { dates } = await generateDemo({
    outDir: out,
    users: 20_000,
    items: 5_000,
    days: 2,
    endDate: '2026-11-20',
    k: 10,
    rowsPerFile: 1_000_000,
    seed: 7,
  });
  const config = loadConfig({ databaseUrl: dbUrl, root, workers: 1, intraOpThreads: 1 }, {});
  console.log(dates[0], (await predict({ job: 'demo', date: dates[0], config, db, log })).status);
  const dir = path.join(out, 'features', `dt=${dates[1]}`);
  for (const f of readdirSync(dir)) {
    const file = path.join(dir, f);
    const cols = FEATURE_COLUMNS.map((c) => (c === feature ? `(${sqlIdent(c)} * ${factor})::FLOAT AS ${sqlIdent(c)}` : sqlIdent(c)));
    await withDuckDB({}, (conn) =>
      conn.run(
        `COPY (SELECT user_id, ${cols.join(', ')} FROM read_parquet(${sqlString(file)})) TO ${sqlString(`${file}.new`)} (FORMAT parquet)`,
      ),
    );
    renameSync(`${file}.new`, file);
  }
  const r = await predict({ job: 'demo', date: dates[1], config, db, log });
  console.log(dates[1], r.status, r.guard.line ?? '');
} finally {
  await db.close();
  await admin.query(`drop database ${name}`);
  await admin.end();
  rmSync(root, { recursive: true, force: true });
}
