// A claim on (job, date) for whoever decides to run it: a scheduler or a backfill. The run itself takes the
// run lock (locks.ts), but only once its child process is up, about a second after the decision.
// Without a claim, scheduler B could read "not done" from the ledger, scheduler A could run and finish the
// date in that second, and B's run would then take the free run lock and do the date a second time.
// With it: claim -> re-read the ledger -> run -> release, so the second decider sees the first one's result.
import type { Config } from '../config/load-config.ts';
import { connectClient } from '../db/connect.ts';
import { CLAIM_LOCK_KEY as KEY } from './locks.ts';

export interface DateClaim {
  release(): Promise<void>;
}

/** The claim, or undefined when another scheduler or backfill holds it right now. */
export async function claimDate(
  url: string,
  config: Pick<Config, 'connectTimeoutMs'>,
  job: string,
  date: string,
): Promise<DateClaim | undefined> {
  // Its own connection: a session lock lives as long as the session, and ending it releases the lock
  // even if the unlock below never runs (this process killed).
  const client = await connectClient(url, config, { applicationName: `batchcast claim ${job} ${date}`.slice(0, 63), onError: () => {} });
  try {
    const { rows } = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${KEY}) as ok`, [job, date]);
    if (!rows[0].ok) {
      await client.end().catch(() => {});
      return undefined;
    }
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(`job ${job}, date ${date}: could not take the scheduling claim: ${(err as Error).message}`, { cause: err });
  }
  return {
    async release() {
      await client.query(`select pg_advisory_unlock(${KEY})`, [job, date]).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
