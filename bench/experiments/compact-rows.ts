// Compact rows: item ids as text[] (before sql/006) against item indices as int4[] (now), the
// same users, scores and items, measured in one process, rounds interleaved (the machine is shared):
// encode (JS, what a worker does per chunk), COPY alone into a run table, unique index build, bytes per
// user on disk (pg_total_relation_size / rows), and lookups through the API's own statement (lookupUsers:
// generationSource decodes compact rows through batchcast.item_maps).
//   node --import tsx bench/experiments/compact-rows.ts [--users 1000000] [--items 10000] [--k 10] [--rounds 3] [--lookup-seconds 5]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test): a database bc_bench_compact is made there and dropped.
// Writes bench/results/compact-rows.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { rng } from '../../src/demo/random.ts';
import { COPY_HEADER, COPY_TRAILER, encodeRows } from '../../src/store/copy-binary.ts';
import { saveItemMap } from '../../src/store/item-maps.ts';
import { lookupUsers } from '../../src/store/lookup-users.ts';
import { migrate } from '../../src/store/migrate.ts';
import { attachRunTable, createRunTable, dropRunTable, indexRunTable } from '../../src/store/run-tables.ts';
import { runTable } from '../../src/store/tables.ts';

const { values: a } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    items: { type: 'string', default: '10000' },
    k: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'lookup-seconds': { type: 'string', default: '5' },
  },
});
const [users, items, k, rounds, lookupSeconds] = [a.users, a.items, a.k, a.rounds, a['lookup-seconds']].map(Number);
const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dbName = 'bc_bench_compact';
const url = Object.assign(new URL(base), { pathname: `/${dbName}` }).toString();
const log = (m: string) => process.stderr.write(`${m}\n`);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** The text[] encoder predict used before sql/006 (kept here as the baseline): item ids pre-encoded, length-prefixed. */
function encodeTextRows(ids: string[], values: Float32Array, indices: Int32Array, itemBytes: Buffer[]): Buffer {
  const idBytes = ids.map((id) => Buffer.from(id));
  let size = 0;
  for (let n = 0; n < ids.length; n++) {
    size += 2 + 4 + idBytes[n].length + 4 + 20 + 4 + 20 + k * 8;
    for (let j = 0; j < k; j++) size += 4 + itemBytes[indices[n * k + j]].length;
  }
  const buf = Buffer.allocUnsafeSlow(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const header = (len: number, oid: number) => {
    dv.setInt32(o, len);
    dv.setInt32(o + 4, 1);
    dv.setInt32(o + 8, 0);
    dv.setInt32(o + 12, oid);
    dv.setInt32(o + 16, k);
    dv.setInt32(o + 20, 1);
    o += 24;
  };
  for (let n = 0; n < ids.length; n++) {
    dv.setInt16(o, 3);
    dv.setInt32(o + 2, idBytes[n].length);
    o += 6;
    buf.set(idBytes[n], o);
    o += idBytes[n].length;
    const lenAt = o;
    header(0, 25);
    for (let j = 0; j < k; j++) {
      const it = itemBytes[indices[n * k + j]];
      dv.setInt32(o, it.length);
      buf.set(it, o + 4);
      o += 4 + it.length;
    }
    dv.setInt32(lenAt, o - lenAt - 4);
    header(20 + k * 8, 700);
    for (let j = 0; j < k; j++) {
      dv.setInt32(o, 4);
      dv.setFloat32(o + 4, values[n * k + j]);
      o += 8;
    }
  }
  return buf;
}

async function copyInto(client: pg.Client, table: string, column: string, chunks: Buffer[]): Promise<number> {
  const t = performance.now();
  const stream = client.query(copyFrom(`copy ${table} (user_id, ${column}, scores) from stdin with (format binary)`));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  stream.write(COPY_HEADER);
  for (const c of chunks) if (!stream.write(c)) await new Promise((r) => stream.once('drain', r));
  stream.end(COPY_TRAILER);
  await done;
  return performance.now() - t;
}

async function main() {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.query(`create database ${dbName}`);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {}); // idle clients cut by the final drop database
  const client = new pg.Client({ connectionString: url });
  try {
    await migrate(pool);
    await client.connect();
    const itemIds = Array.from({ length: items }, (_, i) => `item-${i}`);
    const itemBytes = itemIds.map((s) => Buffer.from(s));
    const sha = await saveItemMap(pool, itemIds);
    const next = rng(13);
    const ids = Array.from({ length: users }, (_, i) => String(1_000_001 + i));
    const values = Float32Array.from({ length: users * k }, () => next() * 5);
    const indices = Int32Array.from({ length: users * k }, () => Math.floor(next() * items));
    const CHUNK = 8192;
    const slices = Array.from({ length: Math.ceil(users / CHUNK) }, (_, c) => [c * CHUNK, Math.min(users, (c + 1) * CHUNK)]);
    const m: Record<string, Record<string, number[]>> = { text: {}, int4: {} };
    const add = (f: string, key: string, v: number) => {
      (m[f][key] ??= []).push(v);
    };
    const lastRuns: Record<string, number> = {};
    for (let round = 1; round <= rounds; round++) {
      for (const format of round % 2 ? ['text', 'int4'] : ['int4', 'text']) {
        let t = performance.now();
        const chunks =
          format === 'text'
            ? slices.map(([s, e]) =>
                encodeTextRows(ids.slice(s, e), values.subarray(s * k, e * k), indices.subarray(s * k, e * k), itemBytes),
              )
            : slices.map(([s, e]) =>
                encodeRows({ ids: ids.slice(s, e), k, values: values.subarray(s * k, e * k), indices: indices.subarray(s * k, e * k) }),
              );
        add(format, 'encodeMs', performance.now() - t);
        const job = `compact-${format}`;
        const { rows } = await client.query(
          `insert into batchcast.runs (job, prediction_date, status, k, rows_written, items_sha256, finished_at)
                                             values ($1, '2026-01-01', 'succeeded', $2, $3, $4, now()) returning run_id`,
          [job, k, users, format === 'int4' ? sha : null],
        );
        const runId = Number(rows[0].run_id);
        await createRunTable(client, runId);
        add(format, 'copyMs', await copyInto(client, runTable(runId), format === 'text' ? 'item_ids' : 'item_idx', chunks));
        t = performance.now();
        await indexRunTable(client, runId);
        add(format, 'indexMs', performance.now() - t);
        await client.query('vacuum ' + runTable(runId));
        const size = await client.query(`select pg_total_relation_size($1::regclass) as b, pg_relation_size($1::regclass) as heap`, [
          runTable(runId),
        ]);
        add(format, 'bytesPerUser', Number(size.rows[0].b) / users);
        add(format, 'heapBytesPerUser', Number(size.rows[0].heap) / users);
        await attachRunTable(client, runId, 5000);
        await client.query(
          `insert into batchcast.published (job, prediction_date, run_id) values ($1, '2026-01-01', $2)
                            on conflict (job, prediction_date) do update set run_id = excluded.run_id`,
          [job, runId],
        );
        if (lastRuns[format]) await dropRunTable(client, lastRuns[format]);
        lastRuns[format] = runId;
        log(
          `round ${round} ${format}: ${Object.entries(m[format])
            .map(([key, v]) => `${key} ${Math.round(v[v.length - 1])}`)
            .join(', ')}`,
        );
      }
      // lookups: 2 clients, one user each request, through the API's statement
      for (const format of round % 2 ? ['text', 'int4'] : ['int4', 'text']) {
        const conns = await Promise.all([pool.connect(), pool.connect()]);
        const r = rng(round);
        let n = 0;
        const end = performance.now() + lookupSeconds * 1000;
        await Promise.all(
          conns.map(async (c) => {
            while (performance.now() < end) {
              const ans = await lookupUsers(c, `compact-${format}`, null, [ids[Math.floor(r() * users)]]);
              if (!ans?.users[0].found) throw new Error(`${format}: lookup found nothing`);
              n++;
            }
          }),
        );
        conns.forEach((c) => c.release());
        add(format, 'lookupRps', n / lookupSeconds);
      }
    }
    const out = {
      users,
      items,
      k,
      rounds,
      note: 'medians of interleaved rounds on a busy shared 2-core machine',
      text: {} as Record<string, number>,
      int4: {} as Record<string, number>,
    };
    for (const f of ['text', 'int4'] as const) for (const [key, v] of Object.entries(m[f])) out[f][key] = Math.round(median(v) * 10) / 10;
    const ratios = Object.fromEntries(Object.keys(out.text).map((key) => [key, Math.round((out.int4[key] / out.text[key]) * 100) / 100]));
    const result = { ...out, int4OverText: ratios };
    const results = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
    mkdirSync(results, { recursive: true });
    writeFileSync(path.join(results, 'compact-rows.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await client.end().catch(() => {});
    await pool.end();
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
