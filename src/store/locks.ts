// Every advisory-lock key batchcast takes, in one place, and the run lock itself. The keys are SQL
// fragments over the statement's parameters ($1, $2), in two-key form (int4, int4), so no key space can
// collide with another's: each hashes its own prefix. Dates count days since 2000-01-01, so distinct
// dates never collide.
//   run lock         one run per (job, date) at a time, across processes and machines (session lock)
//   generation lock  a sharded generation's ledger moves under it (transaction lock, shard-ledger.ts)
//   shard lock       one process per shard of a run (session lock, shard-ledger.ts)
//   claim            whoever decides to run (job, date), scheduler or backfill (session lock, claim-date.ts)
//   migrate          one migrator at a time (migrate.ts)
// A session lock lives on a dedicated connection: if that connection dies the server releases the lock,
// and the holder notices (lost()) and refuses to publish.
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { connectClient } from '../db/connect.ts';
import { LockBusyError } from '../errors.ts';
import type { Queryable } from './queryable.ts';

/** $1 = job, $2 = date. */
export const RUN_LOCK_KEY = `hashtext('batchcast:' || $1), ($2::date - date '2000-01-01')`;
/** $1 = job, $2 = date: another key space than the run lock, held only for a transaction. */
export const GENERATION_LOCK_KEY = `hashtext('batchcast:generation:' || $1), ($2::date - date '2000-01-01')`;
/** $1 = run id, $2 = shard index. */
export const SHARD_LOCK_KEY = `hashtext('batchcast:shard:' || $1::text), $2::int`;
/** $1 = job, $2 = date: a separate key space from the run lock, so a claimed date can still be run by its child. */
export const CLAIM_LOCK_KEY = `hashtext('batchcast-claim:' || $1), ($2::date - date '2000-01-01')`;
/** One key (bigint form): 'batc'. */
export const MIGRATE_LOCK_KEY = 0x62617463;

/**
 * SQL: the pg_locks row `l` is the run lock of (job, date), given as SQL expressions, in this database.
 * Advisory locks are per database, but pg_locks shows the whole server: without the database test another
 * database's lock would count.
 */
function runLockHeld(job: string, date: string): string {
  return `l.locktype = 'advisory' and l.granted and l.objsubid = 2
                 and l.database = (select oid from pg_database where datname = current_database())
                 and l.classid::int = hashtext('batchcast:' || ${job})
                 and l.objid::int = (${date}::date - date '2000-01-01')`;
}

/** SQL: the pg_locks row `l` is a shard lock (any index) of the run whose id is the SQL expression `runId`. */
export function shardLockHeld(runId: string): string {
  return `l.locktype = 'advisory' and l.granted and l.objsubid = 2
                 and l.database = (select oid from pg_database where datname = current_database())
                 and l.classid::int = hashtext('batchcast:shard:' || (${runId})::text)`;
}

/** The run lock of the row `ranked` (job, prediction_date) is held: prune leaves its running runs alone. */
export const RUN_LOCK_HELD = runLockHeld('ranked.job', 'ranked.prediction_date');

/**
 * Session lock `key` (with its parameters) on a connection of its own: the connection when it got the lock,
 * else undefined, or the error `busy` makes from a look at the holder (the connection is ended either way).
 * Ending the connection releases the lock, even when this process dies before it unlocks.
 */
export async function lockOnOwnConnection(
  url: string,
  config: Pick<Config, 'connectTimeoutMs'> & Partial<Pick<Config, 'queryTimeoutMs'>>,
  o: {
    applicationName: string;
    key: string;
    params: unknown[];
    onError?: (err: Error) => void;
    busy(client: pg.Client): Promise<Error | undefined>;
  },
): Promise<pg.Client | undefined> {
  const client = await connectClient(url, config, { applicationName: o.applicationName.slice(0, 63), onError: o.onError ?? (() => {}) });
  try {
    const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${o.key}) as ok`, o.params);
    if (rows[0].ok) return client;
    const err = await o.busy(client);
    if (err) throw err;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  await client.end().catch(() => {});
  return undefined;
}

export interface RunLock {
  client: pg.Client;
  /** Set when the lock connection failed: the lock may be gone. */
  lost(): Error | undefined;
  release(): Promise<void>;
}

export function lockAppName(job: string, date: string): string {
  return `batchcast run ${job} ${date}`.slice(0, 63);
}

export async function acquireRunLock(
  url: string,
  config: Pick<Config, 'connectTimeoutMs'> & Partial<Pick<Config, 'queryTimeoutMs'>>,
  job: string,
  date: string,
): Promise<RunLock> {
  let lostWith: Error | undefined;
  const client = (await lockOnOwnConnection(url, config, {
    applicationName: lockAppName(job, date),
    key: RUN_LOCK_KEY,
    params: [job, date],
    onError: (err) => {
      lostWith = err;
    },
    async busy(c) {
      const holder = await c.query<{ pid: number; application_name: string; backend_start: Date }>(
        `select a.pid, a.application_name, a.backend_start
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where ${runLockHeld('$1', '$2')}
          limit 1`,
        [job, date],
      );
      const h = holder.rows[0];
      const who = h ? ` (server pid ${h.pid}, "${h.application_name}", since ${h.backend_start.toISOString()})` : '';
      return new LockBusyError(
        `job ${job}, date ${date}: another run holds the lock${who}; it is doing this work now, so this run did nothing. Retry after it finishes`,
      );
    },
  }))!;
  client.on('end', () => {
    lostWith ??= new Error('lock connection closed');
  });
  return {
    client,
    lost: () => lostWith,
    async release() {
      if (!lostWith) await releaseRunLock(client, job, date).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/**
 * The run lock of (job, date) on `client`'s session, if it is free: for retention, which holds each date's
 * lock while it drops the date's tables, so no run or rollback of that date races the drop.
 */
export async function tryRunLock(client: Queryable, job: string, date: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${RUN_LOCK_KEY}) as ok`, [job, date]);
  return rows[0].ok;
}

export async function releaseRunLock(client: Queryable, job: string, date: string): Promise<void> {
  await client.query(`select pg_advisory_unlock(${RUN_LOCK_KEY})`, [job, date]);
}
