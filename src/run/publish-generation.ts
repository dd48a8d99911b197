// `batchcast publish --run R`: point a date at another generation by hand. An older one is an instant
// rollback; a held or shadow run is published on a person's word, with the reason logged.
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import { getRun, markOverridden, type RunRow } from '../store/ledger.ts';
import { acquireRunLock } from '../store/locks.ts';
import { migrate } from '../store/migrate.ts';
import { publishedRunId, publishRun } from '../store/pointer.ts';
import type { Queryable } from '../store/queryable.ts';
import { runTable } from '../store/tables.ts';
import { resolvePublish, sessionPid } from './resolve-publish.ts';

export interface PublishOutcome {
  job: string;
  date: string;
  runId: number;
  previousRunId: number | undefined;
  action: 'publish' | 'rollback' | 'override' | 'unchanged';
  ms: number;
}

/** Throws unless the run's table is still an attached partition, i.e. readers would find its rows. */
async function checkTable(db: Queryable, run: RunRow, where: string): Promise<void> {
  const { rows } = await db.query<{ attached: boolean }>(
    `select exists (select 1 from pg_inherits i
                     where i.inhrelid = to_regclass($1) and i.inhparent = 'batchcast.predictions'::regclass
                       and not i.inhdetachpending) as attached`,
    [runTable(run.run_id)],
  );
  if (!rows[0].attached) {
    throw new BadInputError(
      `${where}: its predictions table ${runTable(run.run_id)} is gone or detached; rerun the date instead: ` +
        `batchcast backfill --job ${run.job} --from ${run.prediction_date} --to ${run.prediction_date} --reprocess all`,
    );
  }
}

/**
 * Points (job, date) of run R at R: usually an older succeeded generation (rollback), served from the next
 * query on. Takes the run lock of (job, date), so it cannot race a run of that date that would publish over it.
 */
export async function publishGeneration(db: Db, config: Config, runId: number, reason?: string): Promise<PublishOutcome> {
  await migrate(db.pool);
  const run = await getRun(db.pool, runId);
  if (!run) throw new BadInputError(`run ${runId} does not exist; list runs with: batchcast runs`);
  const { job, prediction_date: date } = run;
  const where = `run ${runId} (job ${job}, date ${date})`;
  const others = `see the runs of that date with: batchcast runs --job ${job} --date ${date}`;
  if (run.status === 'failed')
    throw new BadInputError(`${where} failed (${run.error ?? 'no reason recorded'}); only a succeeded run can be published; ${others}`);
  if (run.status === 'running') throw new BadInputError(`${where} is still running; it publishes itself when it succeeds; ${others}`);
  if (run.pruned_at) {
    throw new BadInputError(
      `${where} was pruned at ${run.pruned_at.toISOString()} and its table is gone; ${others}, or rerun the date: ` +
        `batchcast backfill --job ${job} --from ${date} --to ${date} --reprocess all`,
    );
  }
  // A held or shadow run is published only on a person's word: action override, the reason logged.
  const override = run.status === 'held' || run.status === 'shadow';
  const why = reason?.trim() || (run.status === 'shadow' ? `promoted shadow run ${runId}` : undefined);
  if (run.status === 'held' && !why) {
    throw new BadInputError(
      `${where} was held back by a gate (${run.error ?? 'see batchcast.gate_verdicts'}); to publish it anyway say why: batchcast publish --run ${runId} --reason "..."`,
    );
  }
  await checkTable(db.pool, run, where);

  const lock = await acquireRunLock(db.url, config, job, date);
  try {
    const current = await publishedRunId(lock.client, job, date);
    if (current === runId) return { job, date, runId, previousRunId: current, action: 'unchanged', ms: 0 };
    const action = override ? 'override' : current !== undefined && runId < current ? 'rollback' : 'publish';
    // Checked again inside the publishing transaction: a prune may have dropped the table meanwhile.
    const t0 = performance.now();
    const pub = await publishRun(
      lock.client,
      { job, date, runId, action, reason: override ? why : reason, lockTimeoutMs: config.publishLockTimeoutMs },
      async (tx) => {
        await checkTable(tx, run, where);
        // once served, the date is done: the scheduler and backfill count it as succeeded
        if (override) await markOverridden(tx, runId);
      },
    ).catch((err) => resolvePublish({ dbUrl: db.url, config, job, date, runId, pid: sessionPid(lock.client) }, err, t0));
    return { job, date, runId, previousRunId: pub.previousRunId, action, ms: pub.ms };
  } finally {
    await lock.release();
  }
}
