// Synthetic generations for the lookup benchmark: two runs of the same (job, date) with `users` rows each,
// written straight with INSERT ... SELECT generate_series (no model needed to measure lookups), indexed and
// attached like a real run. Rerunning reuses them when both exist with the right row count.
import type pg from 'pg';
import { publishRun } from '../../src/store/pointer.ts';
import { attachRunTable, createRunTable, indexRunTable } from '../../src/store/run-tables.ts';

export interface BenchGenerations {
  runA: number;
  runB: number;
}

export const benchUserId = (n: number) => `u${n}`;

async function existingRun(client: pg.ClientBase, job: string, date: string, users: number, tag: string): Promise<number | undefined> {
  const { rows } = await client.query<{ run_id: number }>(
    `select r.run_id from batchcast.runs r
      where r.job = $1 and r.prediction_date = $2 and r.model_version = $3 and r.rows_written = $4 and r.pruned_at is null
        and to_regclass('batchcast.predictions_r' || r.run_id) is not null
      order by r.run_id desc limit 1`,
    [job, date, `bench-${tag}`, users],
  );
  return rows[0]?.run_id;
}

async function createRun(
  client: pg.ClientBase,
  job: string,
  date: string,
  users: number,
  k: number,
  tag: string,
  log: (m: string) => void,
): Promise<number> {
  const { rows } = await client.query<{ run_id: number }>(
    `insert into batchcast.runs (job, prediction_date, status, model_version, k, rows_read, rows_written, finished_at,
                                 fallback_item_ids, fallback_scores)
     values ($1, $2, 'running', $3, $4, $5, $5, now(), array['pop-1','pop-2','pop-3'], array[0.5,0.4,0.3]::real[])
     returning run_id`,
    [job, date, `bench-${tag}`, k, users],
  );
  const runId = rows[0].run_id;
  const t0 = performance.now();
  await createRunTable(client, runId);
  // Item ids differ between the two generations (offset by tag), so a mixed answer would be visible.
  const offset = tag === 'a' ? 0 : tag === 'b' ? 1 : Number(tag.replace(/\D/g, '')) + 2;
  await client.query(
    `insert into batchcast.predictions_r${runId} (run_id, user_id, item_ids, scores)
     select $1, 'u' || g,
            array(select 'item-' || ((g * 7 + j * 131 + $3) % 20000) from generate_series(1, $4) j),
            array(select (1 - j * 0.03)::real from generate_series(1, $4) j)
       from generate_series(0, $2 - 1) g`,
    [runId, users, offset, k],
  );
  await indexRunTable(client, runId);
  await attachRunTable(client, runId, 5_000);
  await client.query(`update batchcast.runs set status = 'succeeded' where run_id = $1`, [runId]);
  log(`bench: generation ${tag} = run ${runId}, ${users} users, ${Math.round(performance.now() - t0)} ms`);
  return runId;
}

/** One generation of (job, date) tagged `tag`, reused when it exists (not published). */
export async function ensureRun(
  client: pg.ClientBase,
  opts: { job: string; date: string; users: number; k: number; tag: string; log: (m: string) => void },
): Promise<number> {
  return (
    (await existingRun(client, opts.job, opts.date, opts.users, opts.tag)) ??
    createRun(client, opts.job, opts.date, opts.users, opts.k, opts.tag, opts.log)
  );
}

/** Two loaded generations of (job, date); A is published on return. */
export async function ensureBenchGenerations(
  client: pg.ClientBase,
  opts: { job: string; date: string; users: number; k: number; log: (m: string) => void },
): Promise<BenchGenerations> {
  const runA =
    (await existingRun(client, opts.job, opts.date, opts.users, 'a')) ??
    (await createRun(client, opts.job, opts.date, opts.users, opts.k, 'a', opts.log));
  const runB =
    (await existingRun(client, opts.job, opts.date, opts.users, 'b')) ??
    (await createRun(client, opts.job, opts.date, opts.users, opts.k, 'b', opts.log));
  await publishRun(client, { job: opts.job, date: opts.date, runId: runA, action: 'publish', lockTimeoutMs: 5_000 });
  await client.query('vacuum analyze batchcast.published');
  return { runA, runB };
}
