// The in-memory generation built from a real COPY binary stream of PostgreSQL: every user answers its
// row exactly (ids and float4 scores as PostgreSQL prints them), whatever the chunk boundaries, with more
// than 65,536 distinct items (the Int32 path), NULL scores, empty arrays and multi-byte ids; and the budget
// stops a load early.
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BadGenerationError,
  buildMemoryGeneration,
  float4Number,
  float4NumberSlow,
  OverBudgetError,
} from '../src/serve/generations/memory-generation.ts';
import { lookupBody } from '../src/serve/lookups/lookup-body.ts';
import type { GenerationMeta } from '../src/store/generation.ts';
import { adminUrl } from './helpers.ts';

let client: pg.Client;
const SQL = `select 'ü-' || g as user_id,
                    case when g % 97 = 0 then '{}'::text[] else array(select 'item-' || ((g * 3 + j) % 70000) from generate_series(1, 3) j) end as item_ids,
                    case when g % 97 = 0 then '{}'::real[] else array(select case when g % 89 = 0 and j = 2 then null else (random() * 100 - 50)::real end from generate_series(1, 3) j) end as scores
               from generate_series(0, 29999) g`;

beforeAll(async () => {
  client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  await client.query(`create temp table gen as ${SQL}`);
});

afterAll(async () => {
  await client?.end();
});

const meta = (rows: number): GenerationMeta => ({
  job: 'unit',
  runId: 7,
  predictionDate: '2026-11-20',
  modelVersion: 'v',
  generatedAt: '2026-11-20T00:00:00.000Z',
  k: 3,
  rows,
  fallback: { itemIds: ['pop'], scores: [0.5] },
  itemMap: null,
});

/** The COPY binary bytes of a query (default: the temp table). */
async function copyBytes(query = 'select user_id, item_ids, scores from gen'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // generationRows reads batchcast.predictions; this is the same COPY format, from a temp table.
  const { to } = await import('pg-copy-streams');
  for await (const c of client.query(to(`copy (${query}) to stdout (format binary)`))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function* recut(all: Buffer): Generator<Buffer> {
  let pos = 0;
  let i = 0;
  while (pos < all.length) {
    const n = [1, 2, 3, 5, 7, 64, 700][i++ % 7];
    yield all.subarray(pos, pos + n);
    pos += n;
  }
}

it('answers every user as PostgreSQL holds it, across any chunk boundaries and 70,000 items', async () => {
  const bytes = await copyBytes();
  // rows: 0 would under-size every array: the growth path is exercised too
  const g = await buildMemoryGeneration(meta(0), Readable.from(recut(bytes)), Number.POSITIVE_INFINITY);
  const { rows } = await client.query<{ user_id: string; item_ids: string[]; scores: (number | null)[] }>(
    'select user_id, item_ids, scores from gen',
  );
  expect(g.userCount).toBe(30_000);
  for (const r of rows) {
    const u = g.lookup(r.user_id);
    expect(u.found, r.user_id).toBe(true);
    expect(u.itemIds, r.user_id).toEqual(r.item_ids);
    expect(
      u.scores!.map((s) => (Number.isNaN(s) ? null : s)),
      r.user_id,
    ).toEqual(r.scores);
  }
  expect(g.lookup('nobody')).toEqual({ found: false, itemIds: ['pop'], scores: [0.5] });
});

it('writes the answer body exactly as JSON.stringify would, with the heads it caches per item', async () => {
  const g = await buildMemoryGeneration(meta(30_000), Readable.from(recut(await copyBytes())), Number.POSITIVE_INFINITY);
  const odd = { ...g.generation, modelVersion: 'v "2" \\ ü', generatedAt: '2026-11-20T00:00:00.000Z' };
  const users = ['ü-0', 'ü-89', 'ü-97', 'ü-12345', 'nobody'];
  for (const [job, userId] of [
    ['unit', 'ü-89'],
    ['j"ob', 'a\u2028b\ud800"\n'],
  ] as const) {
    for (const id of users) {
      const u = g.lookup(id);
      for (const n of [0, Math.min(1, u.itemIds!.length), u.itemIds!.length]) {
        const items = u
          .itemIds!.slice(0, n)
          .map((item_id, i) => ({ item_id, score: Number.isFinite(u.scores![i]) ? u.scores![i] : null, rank: i + 1 }));
        const expected = JSON.stringify({
          job,
          user_id: userId,
          prediction_date: odd.predictionDate,
          run_id: odd.runId,
          model_version: odd.modelVersion,
          generated_at: odd.generatedAt,
          source: u.found ? 'model' : 'fallback',
          items,
        });
        expect(lookupBody(job, userId, odd, u.found ? 'model' : 'fallback', u.itemIds!, u.scores!, n, u.itemHeads), id).toBe(expected);
        expect(lookupBody(job, userId, odd, 'model', u.itemIds!, u.scores!, n), id).toBe(expected.replace('"fallback"', '"model"'));
      }
    }
  }
});

it('float4Number gives what PostgreSQL prints for a real: random magnitudes, exact halfway points, powers of ten', async () => {
  const { rows } = await client.query<{ v: number; printed: number }>(
    `select v::float8 as v, v::text::float8 as printed from (select x::real as v from (
       select (random() - 0.5) * 10 ^ (random() * 40 - 20) as x from generate_series(1, 20000)
       union all select ((random() * 2000000)::int - 1000000)::float8 / 128 from generate_series(1, 5000)
       union all select ((random() * 20000)::int - 10000)::float8 / 1024 from generate_series(1, 5000)
       union all select 10 ^ g from generate_series(-30, 30) g
       union all select 1 - g * 0.03 from generate_series(1, 10) g) u) s`,
  );
  for (const r of rows) {
    expect(float4Number(Math.fround(r.v)), String(r.v)).toBe(r.printed);
    expect(float4NumberSlow(Math.fround(r.v)), String(r.v)).toBe(r.printed);
  }
});

it('stops a load that passes the budget, before holding it whole', async () => {
  const bytes = await copyBytes();
  await expect(buildMemoryGeneration(meta(30_000), Readable.from(recut(bytes)), 200_000)).rejects.toBeInstanceOf(OverBudgetError);
});

it('refuses rows predict cannot have written (a user twice, a NULL item id), as BadGenerationError', async () => {
  const twice = await copyBytes(`select 'u' || (g % 3), array['a'], array[1]::real[] from generate_series(1, 5) g`);
  await expect(buildMemoryGeneration(meta(5), Readable.from([twice]), Number.POSITIVE_INFINITY)).rejects.toThrow(BadGenerationError);
  const nullItem = await copyBytes(`select 'u1', array['a', null], array[1, 2]::real[]`);
  await expect(buildMemoryGeneration(meta(1), Readable.from([nullItem]), Number.POSITIVE_INFINITY)).rejects.toThrow(
    /u1 has a NULL item id/,
  );
  const truncated = (await copyBytes()).subarray(0, 5000);
  await expect(buildMemoryGeneration(meta(1), Readable.from([truncated]), Number.POSITIVE_INFINITY)).rejects.toThrow(
    /without its end marker/,
  );
});
