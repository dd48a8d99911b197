// A publish whose outcome is unknown is resolved, not guessed. When publishRun throws, the COMMIT may still
// have reached the server: a connection cut after the server committed and before its reply arrived looks
// to the client exactly like a failure. The pointer and the ledger moved in that one transaction, so a
// re-read of the pointer on a fresh connection says which it was:
// - it names the run: the publish committed, and its ledger row says succeeded (same transaction). The run
//   carries on as published.
// - it names another run, or none: the transaction did not commit. The original error stands.
// - it cannot be read: the original error stands, and nothing is dropped. The ledger already agrees with
//   the pointer either way (both moved or neither did); the table is kept by dropRunTable's own check, and
//   the next run of the date marks the row failed only if it is still 'running', i.e. never published.
import type { Config } from '../config/load-config.ts';
import { connectClient } from '../db/connect.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Published, publishedRunId, publishOf } from '../store/pointer.ts';

export interface PublishAttempt {
  dbUrl: string;
  config: Config;
  job: string;
  date: string;
  runId: number;
  /** default: nothing logged (the outcome is in what resolvePublish returns or throws) */
  log?: Logger;
}

/** After publishRun threw `err`: the Published it had if the pointer names the run; else throws `err`. */
export async function resolvePublish(a: PublishAttempt, err: unknown, t0: number): Promise<Published> {
  const where = `job ${a.job}, date ${a.date}, run ${a.runId}`;
  let named: number | undefined;
  let previousRunId: number | undefined;
  try {
    const c = await connectClient(a.dbUrl, a.config, { applicationName: 'batchcast publish check', onError: () => {} });
    try {
      named = await publishedRunId(c, a.job, a.date);
      if (named === a.runId) previousRunId = (await publishOf(c, a.runId))?.previousRunId;
    } finally {
      await c.end().catch(() => {});
    }
  } catch (readErr) {
    a.log?.error(
      `${where}: the publish failed (${describeError(err)}) and the pointer cannot be re-read (${describeError(readErr)}); ` +
        `whether it committed is unknown: nothing is dropped, and batchcast runs --job ${a.job} --date ${a.date} shows the outcome once the database answers`,
    );
    throw err;
  }
  if (named !== a.runId) throw err;
  a.log?.warn(`${where}: the publish committed but its reply was lost (${describeError(err)}); the pointer names the run: published`, {
    runId: a.runId,
  });
  return { previousRunId, ms: performance.now() - t0 };
}
