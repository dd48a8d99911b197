// One run per (job, date) at a time, across processes and machines: a session advisory lock held on a
// dedicated connection for the whole run. If that connection dies the server releases the lock, and the
// run notices (lost()) and refuses to publish.
import type pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { connectClient } from '../db/connect.ts';
import { LockBusyError } from '../errors.ts';

export interface RunLock {
  client: pg.Client;
  /** Set when the lock connection failed: the lock may be gone. */
  lost(): Error | undefined;
  release(): Promise<void>;
}

// Two-key form: (hashtext of the job, days since 2000-01-01). Distinct dates never collide.
// $1 = job, $2 = date.
export const RUN_LOCK_KEY = `hashtext('batchcast:' || $1), ($2::date - date '2000-01-01')`;
const KEY = RUN_LOCK_KEY;

/**
 * A pg_locks row `l` is the run lock of (ranked.job, ranked.prediction_date) in this database. Advisory
 * locks are per database, but pg_locks shows the whole server: without the database test another
 * database's lock would count.
 */
export const RUN_LOCK_HELD = `l.locktype = 'advisory' and l.granted and l.objsubid = 2
                 and l.database = (select oid from pg_database where datname = current_database())
                 and l.classid::int = hashtext('batchcast:' || ranked.job)
                 and l.objid::int = (ranked.prediction_date - date '2000-01-01')`;

export function lockAppName(job: string, date: string): string {
  return `batchcast run ${job} ${date}`.slice(0, 63);
}

export async function acquireRunLock(url: string, config: Pick<Config, 'connectTimeoutMs'> & Partial<Pick<Config, 'queryTimeoutMs'>>, job: string, date: string): Promise<RunLock> {
  let lostWith: Error | undefined;
  const client = await connectClient(url, config, {
    applicationName: lockAppName(job, date),
    onError: (err) => { lostWith = err; },
  });
  client.on('end', () => { lostWith ??= new Error('lock connection closed'); });
  try {
    const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${KEY}) as ok`, [job, date]);
    if (!rows[0].ok) {
      const holder = await client.query<{ pid: number; application_name: string; client_addr: string | null; backend_start: Date }>(
        `select a.pid, a.application_name, a.client_addr::text, a.backend_start
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.granted and l.objsubid = 2
            and l.database = (select oid from pg_database where datname = current_database())
            and l.classid::int = hashtext('batchcast:' || $1) and l.objid::int = ($2::date - date '2000-01-01')
          limit 1`,
        [job, date],
      );
      const h = holder.rows[0];
      const who = h ? ` (server pid ${h.pid}, "${h.application_name}", since ${h.backend_start.toISOString()})` : '';
      throw new LockBusyError(`job ${job}, date ${date}: another run holds the lock${who}; it is doing this work now, so this run did nothing. Retry after it finishes`);
    }
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return {
    client,
    lost: () => lostWith,
    async release() {
      if (!lostWith) await client.query(`select pg_advisory_unlock(${KEY})`, [job, date]).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
