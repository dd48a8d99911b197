// Retention right after a publish, as predict and the last shard's finish both run it: prune the date's
// unpublished generations past retention.keep, then retire dates past retention.days. A failure here is
// logged, never thrown: the run is already published.
import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import { describeError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { Logger } from '../log.ts';
import type { Queryable } from '../store/queryable.ts';
import { pruneGenerations } from './prune-generations.ts';
import { retainJobDates } from './retain-dates.ts';

/** `where` names the run in the warning ("job J, date D"). */
export async function retainAfterPublish(
  db: Db,
  client: Queryable,
  r: { job: JobDefinition; date: string; config: Config; log: Logger; where: string },
): Promise<void> {
  const { job, date, config, log } = r;
  await pruneGenerations(db, client, { job: job.name, date, keep: job.retention.keep, lockTimeoutMs: config.retentionLockTimeoutMs })
    .then(() => retainJobDates(db, client, job, config, log))
    .catch((err) => log.warn(`retention for ${r.where} failed (the run is published): ${describeError(err)}`));
}
