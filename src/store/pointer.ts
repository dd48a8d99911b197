// Step 4 of a run: move the pointer. One short transaction upserts (job, date) -> run_id; readers that
// started before it keep their snapshot (old generation), readers after it see the new one, and nobody
// sees a mix, because the view reaches rows only through this pointer. Nothing is deleted or renamed.
// The same transaction sends NOTIFY on PUBLISH_CHANNEL: PostgreSQL delivers it at commit, and only if the
// transaction commits, so every `serve` process learns of the move the moment readers can see it.
import type pg from 'pg';

/** The channel `batchcast serve` LISTENs on (src/serve/listen-publishes.ts). */
export const PUBLISH_CHANNEL = 'batchcast_publish';

/** The NOTIFY payload, JSON: small and fixed-size (pg_notify allows 8000 bytes). */
export interface PublishNotice {
  job: string;
  date: string;
  run_id: number;
  previous_run_id: number | null;
  action: PublishRequest['action'];
}

export interface PublishRequest {
  job: string;
  date: string;
  runId: number;
  action: 'publish' | 'rollback' | 'override';
  /** why a person published a held or shadow run (action 'override') */
  reason?: string;
  lockTimeoutMs: number;
}

export interface Published {
  previousRunId: number | undefined;
  ms: number;
}

/**
 * Publishes inside the caller's connection, in its own transaction. `inTx` runs in the same transaction
 * (the run marks itself succeeded there), so the pointer and the ledger move together.
 */
export async function publishRun(
  client: pg.ClientBase,
  req: PublishRequest,
  inTx: (client: pg.ClientBase) => Promise<void> = async () => {},
): Promise<Published> {
  const t0 = performance.now();
  try {
    await client.query('begin');
    await client.query(`set local lock_timeout = ${Math.trunc(req.lockTimeoutMs)}`);
    const prev = await client.query<{ run_id: number }>(
      'select run_id from batchcast.published where job = $1 and prediction_date = $2 for update',
      [req.job, req.date],
    );
    await inTx(client);
    await client.query(
      `insert into batchcast.published (job, prediction_date, run_id, published_at) values ($1, $2, $3, now())
       on conflict (job, prediction_date) do update set run_id = excluded.run_id, published_at = excluded.published_at`,
      [req.job, req.date, req.runId],
    );
    const previousRunId = prev.rows[0]?.run_id;
    await client.query(
      'insert into batchcast.publish_log (job, prediction_date, run_id, previous_run_id, action, reason) values ($1, $2, $3, $4, $5, $6)',
      [req.job, req.date, req.runId, previousRunId ?? null, req.action, req.reason ?? null],
    );
    const notice: PublishNotice = { job: req.job, date: req.date, run_id: req.runId, previous_run_id: previousRunId ?? null, action: req.action };
    await client.query('select pg_notify($1, $2)', [PUBLISH_CHANNEL, JSON.stringify(notice)]);
    await client.query('commit');
    return { previousRunId, ms: performance.now() - t0 };
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}
