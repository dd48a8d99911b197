// How much two generations agree, user by user: overlap@K and rank-biased overlap of their top-K lists,
// with the guardrails' own definitions (src/guard/drift-measures.ts: RBO_ext, Webber et al. 2010, p = 0.9).
import pg from 'pg';
import { rbo as agreementOf } from '../src/guard/drift-measures.ts';
import { generationSource } from '../src/store/run-tables.ts';

/** |A[:k] ∩ B[:k]| / k. */
export function overlapAtK<T>(a: readonly T[], b: readonly T[], k: number): number {
  return agreementOf(a.slice(0, k), b.slice(0, k)).overlap;
}

/** Rank-biased overlap over the k-prefix, extrapolated so that two identical lists score 1. */
export function rbo<T>(a: readonly T[], b: readonly T[], p = 0.9, k = Math.min(a.length, b.length)): number {
  return agreementOf(a, b, p, k).rbo;
}

export interface Agreement {
  /** users present in both generations */
  users: number;
  /** users in one generation only */
  unmatched: number;
  k: number;
  meanOverlapAtK: number;
  /** p = 0.9 */
  meanRbo: number;
}

export interface GenerationRef {
  job: string;
  date: string;
}

/**
 * A published generation's top-K per user, in pages ordered by user_id (keyset, so memory is one page).
 * The run id is resolved first, then its own table is read (generationSource: item ids decoded through its
 * item map), by its user_id index in order. The view filtered by run_id alone cannot prune (run_id is the
 * last column of the partition key): with a few dozen runs in the database a page took ~3 s.
 */
async function* readTopK(client: pg.Client, g: GenerationRef, page: number): AsyncGenerator<{ user_id: string; items: string[] }[]> {
  const published = await client.query<{ run_id: string }>(
    'select run_id from batchcast.published where job = $1 and prediction_date = $2',
    [g.job, g.date],
  );
  if (published.rows.length === 0) throw new Error(`job ${g.job} has no published generation for ${g.date}: run predict for it first`);
  // JIT compiles each page's plan again (0.5 s a page here) for a query that takes 0.3 s.
  await client.query('set jit = off');
  const source = generationSource(Number(published.rows[0].run_id));
  let after = '';
  for (;;) {
    const { rows } = await client.query<{ user_id: string; items: string[] }>(
      `select user_id, item_ids as items from ${source}
        where user_id > $1 collate "C" order by user_id collate "C" limit $2`,
      [after, page],
    );
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1].user_id;
  }
}

/** Compares two published generations on every user they share (a merge of two user_id-ordered reads). */
export async function compareGenerations(
  url: string,
  a: GenerationRef,
  b: GenerationRef,
  k: number,
  o: { p?: number; page?: number } = {},
): Promise<Agreement> {
  const p = o.p ?? 0.9;
  const page = o.page ?? 20_000; // users per read: 20k x 10 ids is a few MB
  const ca = new pg.Client({ connectionString: url });
  const cb = new pg.Client({ connectionString: url });
  await ca.connect();
  try {
    await cb.connect();
    try {
      const left = readTopK(ca, a, page);
      const right = readTopK(cb, b, page);
      let l: { user_id: string; items: string[] }[] = [];
      let r: typeof l = [];
      let i = 0;
      let j = 0;
      let users = 0;
      let unmatched = 0;
      let overlap = 0;
      let rboSum = 0;
      for (;;) {
        if (i === l.length) {
          l = (await left.next()).value ?? [];
          i = 0;
        }
        if (j === r.length) {
          r = (await right.next()).value ?? [];
          j = 0;
        }
        if (l.length === 0 || r.length === 0) {
          unmatched += l.length - i + r.length - j;
          for await (const rest of l.length ? left : right) unmatched += rest.length;
          break;
        }
        // JavaScript's < on strings compares UTF-16 code units; for the ASCII user ids here that is "C" order.
        const x = l[i];
        const y = r[j];
        if (x.user_id === y.user_id) {
          overlap += overlapAtK(x.items, y.items, k);
          rboSum += rbo(x.items, y.items, p, k);
          users++;
          i++;
          j++;
        } else if (x.user_id < y.user_id) {
          unmatched++;
          i++;
        } else {
          unmatched++;
          j++;
        }
      }
      return { users, unmatched, k, meanOverlapAtK: users ? overlap / users : NaN, meanRbo: users ? rboSum / users : NaN };
    } finally {
      await cb.end();
    }
  } finally {
    await ca.end();
  }
}
