// A publish whose outcome is unknown is resolved, not guessed. When publishRun throws, the COMMIT may still
// reach the server: a connection cut after the server committed and before its reply arrived, or a COMMIT
// delayed in the network past the client's timeout, looks to the client exactly like a failure. The pointer
// and the ledger moved in that one transaction, so the pointer says which it was, once nothing can still
// commit: from a fresh connection the publishing session is ended (pg_terminate_backend of its pid) and
// its pid awaited out of pg_stat_activity (bounded). A COMMIT that arrives later finds no session. Then:
// - the pointer names the run: the publish committed, and its ledger row says succeeded (same transaction).
//   The run carries on as published.
// - it names another run, or none: the transaction did not commit. The original error stands.
// - the session cannot be seen to end, or the pointer cannot be read: the original error stands, marked
//   unresolved (isPublishUnresolved): the caller marks nothing failed and drops nothing. The ledger already
//   agrees with the pointer either way (both moved or neither did); the next run of the date marks the row
//   failed only if it is still 'running', i.e. never published, and prune takes its table then.
import type { Config } from '../config/load-config.ts';
import { connectClient } from '../db/connect.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Published, publishedRunId, publishOf } from '../store/pointer.ts';

/** How long the publishing session may take to leave pg_stat_activity once terminated. */
const SESSION_GONE_MS = 10_000;

export interface PublishAttempt {
  dbUrl: string;
  config: Config;
  job: string;
  date: string;
  runId: number;
  /** The server pid of the session that published (pg.Client processID); ended before the pointer is read. */
  pid?: number | null;
  /** default: nothing logged (the outcome is in what resolvePublish returns or throws) */
  log?: Logger;
}

const unresolved = new WeakSet<object>();

/** True for the error of a publish whose outcome could not be learnt: nothing may be marked failed or dropped. */
export function isPublishUnresolved(err: unknown): boolean {
  return typeof err === 'object' && err !== null && unresolved.has(err);
}

/** The server pid of a pg client's session (pg keeps it from BackendKeyData; its types do not say so). */
export function sessionPid(client: unknown): number | null {
  return (client as { processID?: number | null }).processID ?? null;
}

/** After publishRun threw `err`: the Published it had if the pointer names the run; else throws `err`. */
export async function resolvePublish(a: PublishAttempt, err: unknown, t0: number): Promise<Published> {
  const where = `job ${a.job}, date ${a.date}, run ${a.runId}`;
  let named: number | undefined;
  let previousRunId: number | undefined;
  try {
    const c = await connectClient(a.dbUrl, a.config, { applicationName: 'batchcast publish check', onError: () => {} });
    try {
      if (a.pid) await endSession(c, a.pid);
      named = await publishedRunId(c, a.job, a.date);
      if (named === a.runId) previousRunId = (await publishOf(c, a.runId))?.previousRunId;
    } finally {
      await c.end().catch(() => {});
    }
  } catch (readErr) {
    a.log?.error(
      `${where}: the publish failed (${describeError(err)}) and its outcome cannot be read (${describeError(readErr)}); ` +
        `whether it committed is unknown: nothing is dropped, and batchcast runs --job ${a.job} --date ${a.date} shows the outcome once the database answers`,
    );
    if (typeof err === 'object' && err !== null) unresolved.add(err);
    throw err;
  }
  if (named !== a.runId) throw err;
  a.log?.warn(`${where}: the publish committed but its reply was lost (${describeError(err)}); the pointer names the run: published`, {
    runId: a.runId,
  });
  return { previousRunId, ms: performance.now() - t0 };
}

/** Ends session `pid` and waits until it has left pg_stat_activity: its transaction can no longer commit. */
async function endSession(c: { query: (sql: string, values: unknown[]) => Promise<{ rowCount: number | null }> }, pid: number) {
  await c.query('select pg_terminate_backend($1)', [pid]);
  for (const until = Date.now() + SESSION_GONE_MS; ; await new Promise((r) => setTimeout(r, 20))) {
    const { rowCount } = await c.query('select 1 from pg_stat_activity where pid = $1', [pid]);
    if (!rowCount) return;
    if (Date.now() > until)
      throw new Error(`the publishing session (pid ${pid}) is still there ${SESSION_GONE_MS / 1000} s after pg_terminate_backend`);
  }
}
