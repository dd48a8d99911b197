// The published top K equals a brute-force top K computed here from the same features and weights:
// exact item ids, scores within 1e-5. Both model output kinds, both id types, both feature layouts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { bruteForceTopK, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb('correctness');
});
afterAll(async () => {
  await t?.drop();
});

const cases = [
  { name: 'topk_int_columns', idType: 'int', output: 'top_k', featureMode: 'columns' },
  { name: 'scores_string_list', idType: 'string', output: 'scores', featureMode: 'list' },
  { name: 'scores_int_columns', idType: 'int', output: 'scores', featureMode: 'columns' },
  { name: 'topk_string_list', idType: 'string', output: 'top_k', featureMode: 'list' },
] as const;

describe('published top K matches a brute-force top K', () => {
  for (const c of cases) {
    it(`${c.output} output, ${c.idType} ids, ${c.featureMode} features`, async () => {
      const date = '2026-11-20';
      // 700 users over 2 files, batches of 64 and chunks of 128: many chunks, a ragged last one.
      const fx = await makeFixture({ ...c, users: 700, items: 150, k: 7, dates: [date] });
      // The last case also splits the load over two COPY connections.
      const copyConnections = c.name === 'topk_string_list' ? 2 : 1;
      const config = loadConfig({ databaseUrl: t.url, root: fx.root, chunkRows: 128, workers: 2, intraOpThreads: 1, copyConnections }, {});
      const result = await predict({ job: fx.job, date, config, db: t.db, log });
      expect(result.rows).toBe(700);

      const { rows } = await t.db.pool.query<{ user_id: string; rank: number; item_id: string; score: number }>(
        'select user_id, rank, item_id, score from batchcast.recommendations where job = $1 and prediction_date = $2 order by user_id, rank',
        [fx.job, date],
      );
      expect(rows.length).toBe(700 * fx.k);
      const byUser = new Map<string, typeof rows>();
      for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);

      const { ids, features } = fx.users.get(date)!;
      expect(new Set(byUser.keys())).toEqual(new Set(ids));
      ids.forEach((id, u) => {
        const want = bruteForceTopK(fx.weights, features[u], fx.k);
        const got = byUser.get(id)!;
        expect(got.map((r) => r.rank)).toEqual(Array.from({ length: fx.k }, (_, i) => i + 1));
        expect(
          got.map((r) => r.item_id),
          `user ${id}`,
        ).toEqual(want.indices.map((i) => fx.itemIds[i]));
        got.forEach((r, j) => expect(Math.abs(r.score - want.scores[j]), `user ${id} rank ${j + 1}`).toBeLessThan(1e-5));
      });
    });
  }
});
