// The cost of the shard function per user id, in each system that computes it:
//   DATABASE_URL=postgres://... npx tsx bench/experiments/shard-bench.ts [--ids 1000000] [--rounds 5]
// TypeScript and DuckDB are timed in CPU time of this process (DuckDB runs in it, on 1 thread), which a
// busy machine disturbs far less than wall time; PostgreSQL in wall time of one query. Each round runs the
// shard expression and a baseline (the same scan with `id % N`), interleaved; medians are printed.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { withDuckDB } from '../../src/read/duckdb.ts';
import { shardOf, shardSql } from '../../src/read/shard.ts';

const { values } = parseArgs({ options: { ids: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '5' } } });
const ids = Number(values.ids);
const rounds = Number(values.rounds);
const n = 16;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
async function cpuPerId(fn: () => unknown): Promise<number> {
  const t = cpuUs();
  await fn();
  return (cpuUs() - t) / ids;
}
async function wallPerId(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return ((performance.now() - t) * 1000) / ids;
}

const texts = Array.from({ length: ids }, (_, i) => String(1000 + i * 7));
const results: Record<string, number[]> = {};
const add = (k: string, v: number) => (results[k] ??= []).push(v);

await withDuckDB({ threads: 1 }, async (conn) => {
  const client = process.env.DATABASE_URL ? new pg.Client({ connectionString: process.env.DATABASE_URL }) : undefined;
  await client?.connect();
  try {
    for (let r = 0; r < rounds; r++) {
      add(
        'TypeScript shardOf',
        await cpuPerId(() => {
          let s = 0;
          for (const id of texts) s += shardOf(id, n);
          return s;
        }),
      );
      add(
        'TypeScript baseline (String(id).length % N)',
        await cpuPerId(() => {
          let s = 0;
          for (const id of texts) s += id.length % n;
          return s;
        }),
      );
      add('DuckDB, 1 thread', await cpuPerId(() => conn.runAndReadAll(`SELECT sum(${shardSql.duckdb('i', n)}) FROM range(${ids}) t(i)`)));
      add('DuckDB baseline (i % N)', await cpuPerId(() => conn.runAndReadAll(`SELECT sum(i % ${n}) FROM range(${ids}) t(i)`)));
      if (client) {
        add(
          'PostgreSQL (wall)',
          await wallPerId(() => client.query(`SELECT sum(${shardSql.postgres('i', n)}) FROM generate_series(1, ${ids}) i`)),
        );
        add('PostgreSQL baseline (wall)', await wallPerId(() => client.query(`SELECT sum(i % ${n}) FROM generate_series(1, ${ids}) i`)));
      }
    }
  } finally {
    await client?.end();
  }
});

console.log(`| shard of ${ids.toLocaleString('en')} ids, N = ${n}, median of ${rounds} | us per id |\n| --- | ---: |`);
for (const [k, v] of Object.entries(results)) console.log(`| ${k} | ${median(v).toFixed(3)} |`);
