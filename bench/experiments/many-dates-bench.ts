// A year (or three) of daily runs: one big date published by `predict`, alone in one database
// and beside 999 small earlier dates in another, measured interleaved (1 date, 1000 dates, 1 date, ...):
//   - the lookup API (`batchcast serve`) under wrk, 32 connections: rps and p99
//   - pgbench: one user from batchcast.recommendations, filtered by job, date and user, as a prepared
//     statement (-M prepared, as load/lookup-bench.ts measures the view) and with the values in the text (-M simple)
//   - planning and execution time of that query (EXPLAIN ANALYZE, warm connection, median of 20)
//   - a whole-day query on the view (the most recommended items of the date)
//   - publish: predict's publish stage for the big date, and the publish transaction alone (median of 9)
// The 999 small dates are written with SQL shaped exactly as predict makes them (bench/small-dates.ts).
// Runs against whatever layout this checkout's src/ makes: run it in a checkout of main for "before".
//   node --import tsx bench/experiments/many-dates-bench.ts --tag after [--users 200000] [--dates 1000] [--small-users 100]
//        [--duration 10] [--rounds 3] [--view-clients 1] [--bench-dir data/bench]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names the server; the two databases
// bc_days_<tag>_1 and bc_days_<tag>_<dates> are made there once and reused. Writes bench/results/many-dates-<tag>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.ts';
import { openDb } from '../../src/db/connect.ts';
import { freePort } from '../../src/db/embedded.ts';
import { silentLogger } from '../../src/log.ts';
import { predict } from '../../src/run/predict.ts';
import { migrate } from '../../src/store/migrate.ts';
import { publishRun } from '../../src/store/pointer.ts';
import { BENCH_DATE, ensureDataset, MODELS } from '../harness/datasets.ts';
import { median, runOutput } from '../harness/util.ts';
import { datesBefore, writeSmallDates } from '../small-dates.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const { values: args } = parseArgs({
  options: {
    tag: { type: 'string', default: 'after' },
    users: { type: 'string', default: '200000' },
    dates: { type: 'string', default: '1000' },
    'small-users': { type: 'string', default: '100' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    // pgbench clients for the view. Keep it small on a shared server: a prepared statement on the view
    // builds one generic plan (on its 6th execution, PostgreSQL 15), planning and locking every partition
    // and its index (~2,000 locks at 1,000 dates), and the run_id layout ("before") does so on every
    // query; 32 clients at once exhaust a default lock table (max_locks_per_transaction 64 x
    // max_connections 100 = 6,400) and fail with "out of shared memory", for everyone on the server.
    'view-clients': { type: 'string', default: '1' },
    'bench-dir': { type: 'string', default: path.join(repo, 'data', 'bench') },
  },
});
const users = Number(args.users);
const manyDates = Number(args.dates);
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (m: string) => process.stderr.write(`${m}\n`);

const withDatabase = (name: string) => {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
};

interface Setup {
  name: string;
  url: string;
  dates: number;
  publishStageMs: number;
  attachMs: number;
}

/** A database holding the big date (by predict) after `small` earlier small dates; reused when complete. */
async function ensureDatabase(small: number, ds: Awaited<ReturnType<typeof ensureDataset>>): Promise<Setup> {
  const name = `bc_days_${args.tag}_${small + 1}`;
  const url = withDatabase(name);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rows.length > 0;
  if (!exists) await admin.query(`create database ${name}`);
  await admin.end();
  const config = loadConfig({ databaseUrl: url, root: ds.root, statementTimeoutMs: 0 }, {});
  const db = await openDb(config, { poolSize: 4 });
  try {
    await migrate(db.pool);
    const done = await db.pool.query<{ timings: Record<string, number> }>(
      `select r.timings from batchcast.published p join batchcast.runs r using (run_id)
        where p.job = $1 and p.prediction_date = $2 and (select count(*) from batchcast.published where job = $1) = $3`,
      [ds.job, BENCH_DATE, small + 1],
    );
    if (done.rows.length) {
      log(`${name}: reusing (${small + 1} published dates)`);
      return { name, url, dates: small + 1, publishStageMs: done.rows[0].timings.publish, attachMs: done.rows[0].timings.attach };
    }
    if (small > 0) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const t0 = performance.now();
      await writeSmallDates(c, {
        job: ds.job,
        dates: datesBefore(BENCH_DATE, small),
        users: Number(args['small-users']),
        k: ds.spec.k,
        items: ds.spec.items,
        onDate: (d, id) => {
          if (id % 100 === 0) log(`${name}: small date ${d} (run ${id})`);
        },
      }).finally(() => c.end());
      log(`${name}: ${small} small dates in ${Math.round((performance.now() - t0) / 1000)} s`);
    }
    const r = await predict({ job: ds.job, date: BENCH_DATE, config, db, log: silentLogger });
    await db.pool.query('vacuum analyze batchcast.published');
    await db.pool.query('vacuum analyze batchcast.runs');
    log(`${name}: predict ${r.rows} users in ${r.seconds.toFixed(1)} s, publish ${r.timings.publish} ms, attach ${r.timings.attach} ms`);
    return { name, url, dates: small + 1, publishStageMs: r.timings.publish, attachMs: r.timings.attach };
  } finally {
    await db.close();
  }
}

const oneUserSql = (job: string, user: string) =>
  `select item_id, score, rank, run_id, model_version from batchcast.recommendations
    where job = '${job}' and prediction_date = '${BENCH_DATE}' and user_id = '${user}' order by rank`;
const wholeDaySql = (job: string) =>
  `select item_id, count(*) as n from batchcast.recommendations
    where job = '${job}' and prediction_date = '${BENCH_DATE}' group by item_id order by n desc limit 10`;

/** Planning and execution of the one-user query (warm), the whole-day query, and the publish transaction. */
async function sqlTimings(
  s: Setup,
  job: string,
): Promise<{ plan_ms: number; exec_ms: number; cold_plan_ms: number; whole_day_ms: number; publish_tx_ms: number }> {
  const c = new pg.Client({ connectionString: s.url });
  await c.connect();
  try {
    const explain = async (sql: string) => (await c.query(`explain (analyze, format json) ${sql}`)).rows[0]['QUERY PLAN'][0];
    const cold = await explain(oneUserSql(job, '1'));
    const plans: number[] = [];
    const execs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const e = await explain(oneUserSql(job, String(1 + Math.floor(Math.random() * users))));
      plans.push(e['Planning Time']);
      execs.push(e['Execution Time']);
    }
    const day: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await c.query(wholeDaySql(job));
      day.push(performance.now() - t0);
    }
    const { rows } = await c.query<{ run_id: number }>('select run_id from batchcast.published where job = $1 and prediction_date = $2', [
      job,
      BENCH_DATE,
    ]);
    const pub: number[] = [];
    for (let i = 0; i < 9; i++) {
      pub.push((await publishRun(c, { job, date: BENCH_DATE, runId: rows[0].run_id, action: 'publish', lockTimeoutMs: 5_000 })).ms);
    }
    const r2 = (x: number) => Math.round(x * 100) / 100;
    return {
      plan_ms: r2(median(plans)),
      exec_ms: r2(median(execs)),
      cold_plan_ms: r2(cold['Planning Time']),
      whole_day_ms: r2(median(day)),
      publish_tx_ms: r2(median(pub)),
    };
  } finally {
    await c.end();
  }
}

/** `prepared`: a named statement, as load/lookup-bench.ts measures the view; `simple`: the values in the text. */
async function pgbench(s: Setup, job: string, mode: 'prepared' | 'simple'): Promise<number> {
  const script = mode === 'prepared' ? 'many-dates-pgbench.sql' : 'many-dates-pgbench-literal.sql';
  const clients = args['view-clients'];
  const out = await runOutput('pgbench', [
    '-n',
    '-M',
    mode,
    '-c',
    clients,
    '-j',
    clients === '1' ? '1' : '2',
    '-T',
    String(duration),
    '-D',
    `users=${users}`,
    '-D',
    `date=${BENCH_DATE}`,
    '-D',
    `job=${job}`,
    '-f',
    path.join(repo, 'bench', 'load', script),
    s.url,
  ]);
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (!m) throw new Error(`no tps in pgbench output: ${out.slice(-1000)}`);
  return Math.round(Number(m[1]));
}

async function startServer(s: Setup, root: string, job: string): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [path.join(repo, 'bin', 'batchcast.js'), 'serve', '--port', String(port), '--database-url', s.url, '--log-level', 'warn', '--json'],
    { env: { ...process.env, BATCHCAST_ROOT: root }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${url}/readyz?job=${job}`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, stop: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  throw new Error(`batchcast serve on ${s.name} was not ready within 60 s`);
}

async function wrk(url: string, job: string): Promise<{ rps: number; p99_ms: number; non_200: number }> {
  // the big date is the latest: users "1".."N" (the dataset's integer ids), no date in the path
  const out = await runOutput(
    'wrk',
    ['-t2', '-c32', `-d${duration}s`, '--latency', '-s', path.join(repo, 'bench', 'load', 'lookup-random-user.lua'), url],
    { ...process.env, USERS: String(users), JOB: job, PREFIX: '', FIRST: '1' },
  );
  const m = /RESULT (\{.*\})/.exec(out);
  if (!m) throw new Error(`no RESULT line in wrk output: ${out.slice(-1000)}`);
  const r = JSON.parse(m[1]) as { requests: number; non_200: number; errors: number; p99_us: number; duration_us: number };
  return { rps: Math.round(r.requests / (r.duration_us / 1e6)), p99_ms: r.p99_us / 1000, non_200: r.non_200 + r.errors };
}

async function main(): Promise<void> {
  const ds = await ensureDataset(path.resolve(args['bench-dir']), MODELS.light, users, log);
  const setups = [await ensureDatabase(0, ds), await ensureDatabase(manyDates - 1, ds)];
  const servers = await Promise.all(setups.map((s) => startServer(s, ds.root, ds.job)));
  const perRound: Record<string, unknown>[] = [];
  try {
    for (const [i, s] of setups.entries()) {
      // warm-up
      await wrk(servers[i].url, ds.job);
      await sqlTimings(s, ds.job);
    }
    for (let r = 1; r <= rounds; r++) {
      for (const [i, s] of setups.entries()) {
        const api = await wrk(servers[i].url, ds.job);
        const tps = await pgbench(s, ds.job, 'prepared');
        const literalTps = await pgbench(s, ds.job, 'simple');
        const sql = await sqlTimings(s, ds.job);
        const row = {
          round: r,
          dates: s.dates,
          api_rps: api.rps,
          api_p99_ms: api.p99_ms,
          non_200: api.non_200,
          view_tps: tps,
          view_literal_tps: literalTps,
          ...sql,
          load: os.loadavg()[0],
        };
        perRound.push(row);
        log(JSON.stringify(row));
      }
    }
  } finally {
    for (const srv of servers) srv.stop();
  }
  const summary = setups.map((s) => {
    const rows = perRound.filter((x) => x.dates === s.dates) as Record<string, number>[];
    const m = (k: string) => median(rows.map((x) => x[k]));
    return {
      dates: s.dates,
      api_rps: m('api_rps'),
      api_p99_ms: m('api_p99_ms'),
      non_200: rows.reduce((a, x) => a + x.non_200, 0),
      view_tps: m('view_tps'),
      view_literal_tps: m('view_literal_tps'),
      plan_ms: m('plan_ms'),
      exec_ms: m('exec_ms'),
      cold_plan_ms: m('cold_plan_ms'),
      whole_day_ms: m('whole_day_ms'),
      publish_tx_ms: m('publish_tx_ms'),
      predict_publish_ms: s.publishStageMs,
      predict_attach_ms: s.attachMs,
    };
  });
  const [one, many] = summary;
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const result = {
    tag: args.tag,
    view_clients: Number(args['view-clients']),
    users,
    small_users: Number(args['small-users']),
    duration_s: duration,
    rounds,
    summary,
    ratios_many_over_one: {
      api_rps: ratio(many.api_rps, one.api_rps),
      api_p99: ratio(many.api_p99_ms, one.api_p99_ms),
      view_tps: ratio(many.view_tps, one.view_tps),
      view_literal_tps: ratio(many.view_literal_tps, one.view_literal_tps),
      whole_day: ratio(many.whole_day_ms, one.whole_day_ms),
    },
    perRound,
    at: new Date().toISOString(),
    cpus: os.cpus().length,
  };
  mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(repo, 'bench', 'results', `many-dates-${args.tag}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ summary, ratios: result.ratios_many_over_one })}\n`);
}

await main();
