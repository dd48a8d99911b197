// How long migration 003 takes on a database in the run_id layout, and that it keeps what it serves.
// Copies a "before" database made by many-dates-bench.ts in a checkout of main (template copy, the source
// is not changed), applies the migrations of this checkout to the copy, and compares the view's answers.
//   node --import tsx bench/experiments/migrate-003-bench.ts [--from bc_days_before_1000]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../../src/store/migrate.ts';

const { values: args } = parseArgs({ options: { from: { type: 'string', default: 'bc_days_before_1000' } } });
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const copy = `${args.from}_migrated`;
const urlOf = (name: string) => {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
};
// a sample of every published date (the first users of each) and the size of every date
const SERVED = `select job, prediction_date::text, user_id, rank, item_id, score, run_id from batchcast.recommendations
                 where user_id in ('u0', 'u1', '1', '2', '199999') order by 1, 2, 3, 4`;
const SIZES = `select prediction_date::text, count(*)::int as n from batchcast.recommendations group by 1 order by 1`;

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`drop database if exists ${copy}`);
await admin.query(`create database ${copy} template ${args.from}`);
await admin.end();
const pool = new pg.Pool({ connectionString: urlOf(copy), max: 2 });
try {
  const before = (await pool.query(SERVED)).rows;
  const sizes = (await pool.query(SIZES)).rows;
  const partitions = (await pool.query(`select count(*)::int as n from pg_inherits where inhparent = 'batchcast.predictions'::regclass`))
    .rows[0].n;
  const t0 = performance.now();
  const applied = await migrate(pool);
  const ms = Math.round(performance.now() - t0);
  const same =
    JSON.stringify((await pool.query(SERVED)).rows) === JSON.stringify(before) &&
    JSON.stringify((await pool.query(SIZES)).rows) === JSON.stringify(sizes);
  process.stdout.write(
    `${JSON.stringify({ from: args.from, partitions, applied, migrate_ms: ms, same_answers: same, sampled_rows: before.length, dates: sizes.length })}\n`,
  );
  if (!same) process.exitCode = 1;
} finally {
  await pool.end();
  const a = new pg.Client({ connectionString: serverUrl });
  await a.connect();
  await a.query(`drop database if exists ${copy}`).finally(() => a.end());
}
