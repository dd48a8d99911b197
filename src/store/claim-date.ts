// A claim on (job, date) for whoever decides to run it: a scheduler or a backfill. The run itself takes the
// run lock (locks.ts), but only once its child process is up, about a second after the decision.
// Without a claim, scheduler B could read "not done" from the ledger, scheduler A could run and finish the
// date in that second, and B's run would then take the free run lock and do the date a second time.
// With it: claim -> re-read the ledger -> run -> release, so the second decider sees the first one's result.
import type { Config } from '../config/load-config.ts';
import { CLAIM_LOCK_KEY as KEY, lockOnOwnConnection } from './locks.ts';

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
  let client: Awaited<ReturnType<typeof lockOnOwnConnection>>;
  try {
    const applicationName = `batchcast claim ${job} ${date}`;
    client = await lockOnOwnConnection(url, config, { applicationName, key: KEY, params: [job, date], busy: async () => undefined });
  } catch (err) {
    throw new Error(`job ${job}, date ${date}: could not take the scheduling claim: ${(err as Error).message}`, { cause: err });
  }
  if (!client) return undefined;
  const held = client;
  return {
    async release() {
      await held.query(`select pg_advisory_unlock(${KEY})`, [job, date]).catch(() => {});
      await held.end().catch(() => {});
    },
  };
}
