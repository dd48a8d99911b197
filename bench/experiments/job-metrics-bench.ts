// What one /metrics scrape costs the database: readJobFigures (the two ledger statements) over a ledger of
// a realistic size. node --import tsx bench/experiments/job-metrics-bench.ts [jobs] [days] [runsPerDay]
// Needs DATABASE_URL (an admin URL); it creates and drops a database of its own.
import pg from 'pg';
import { readJobFigures } from '../../src/store/job-figures.ts';
import { migrate } from '../../src/store/migrate.ts';

const [jobs, days, perDay] = process.argv.slice(2).map(Number);
const J = jobs || 10,
  D = days || 1095,
  R = perDay || 3;
const admin = process.env.DATABASE_URL;
if (!admin) throw new Error('set DATABASE_URL to a PostgreSQL admin URL');
const name = `bc_metrics_bench_${process.pid}`;
const a = new pg.Client({ connectionString: admin });
await a.connect();
await a.query(`create database ${name}`);
const url = new URL(admin);
url.pathname = `/${name}`;
const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
pool.on('error', () => {}); // the drop at the end ends idle connections
try {
  await migrate(pool);
  // Every run of J jobs x D dates x R runs; the last run of each date succeeded, the others failed or were held.
  await pool.query(
    `insert into batchcast.runs (job, prediction_date, status, rows_written, started_at, finished_at)
     select 'job' || j, date '2024-01-01' + d, case when r = $3 then 'succeeded' when r % 2 = 0 then 'held' else 'failed' end,
            1000000, now() - make_interval(days => $2 - d), now() - make_interval(days => $2 - d) + interval '90 seconds'
       from generate_series(1, $1) j, generate_series(0, $2 - 1) d, generate_series(1, $3) r`,
    [J, D, R],
  );
  // A comparison (32 features) for every succeeded run against the previous one of its job.
  const psi = JSON.stringify(Array.from({ length: 32 }, (_, i) => ({ feature: `f${i}`, psi: Math.random() / 10 })));
  await pool.query(
    `insert into batchcast.run_comparisons (run_id, reference_run_id, comparison)
     select run_id, ref, jsonb_build_object(
              'psi', $1::jsonb, 'driftedFeatureShare', 0, 'meanOverlapAtK', 0.8, 'meanRbo', 0.8, 'itemJsDistance', 0.05, 'usersRatio', 1)
       from (select run_id, lag(run_id) over (partition by job order by run_id) as ref from batchcast.runs where status = 'succeeded') s
      where ref is not null`,
    [psi],
  );
  await pool.query('analyze');
  const times: number[] = [];
  let n = 0;
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    n = (await readJobFigures(pool)).length;
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  const {
    rows: [c],
  } = await pool.query(
    'select (select count(*) from batchcast.runs)::int as runs, (select count(*) from batchcast.run_comparisons)::int as comparisons',
  );
  console.log(
    `${n} jobs, ${c.runs} runs, ${c.comparisons} comparisons: readJobFigures median ${times[10].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[20].toFixed(1)} ms (21 reads)`,
  );
} finally {
  await pool.end();
  if (process.env.KEEP_DB) console.log(`kept database ${name}`);
  else await a.query(`drop database ${name} with (force)`);
  await a.end();
}
