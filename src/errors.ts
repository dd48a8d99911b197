// Exit codes are part of the interface: cron and Kubernetes alert on them (docs/operations.md, "Exit codes").
export const ExitCode = {
  ok: 0,
  /** A bug or an error we did not classify. */
  failed: 1,
  /**
   * Bad input: arguments, job file, features, model or items, or configuration (a database that does not
   * exist, a wrong password). Rerunning will not help until the input is fixed.
   */
  badInput: 2,
  /** Another run holds the lock for the same (job, date). Nothing was done; it is safe to retry later. */
  lockBusy: 3,
  /** Infrastructure: database unreachable, connection lost, timeouts, disk. Retrying may help. */
  infra: 4,
  /**
   * A backfill or scheduler pass where dates failed for different reasons (when every failed date failed
   * with the same code, that code is used instead). The others were done; rerun the same command to retry.
   */
  datesFailed: 5,
  /**
   * The run was written but a gate of the job held it back (or a shadow run failed its gates): nothing was
   * published, the previous generation is still served. A person decides: batchcast publish --run R --reason.
   */
  held: 6,
  /**
   * Late: a scheduled date's input files did not arrive within its job's schedule.wait_for_data timeout.
   * Nothing ran; the upstream export is late or broken. The next scheduler pass looks again.
   */
  late: 7,
} as const;

export class BatchcastError extends Error {
  readonly exitCode: number = ExitCode.failed;
}

export class BadInputError extends BatchcastError {
  override readonly exitCode = ExitCode.badInput;
  override name = 'BadInputError';
}

export class LockBusyError extends BatchcastError {
  override readonly exitCode = ExitCode.lockBusy;
  override name = 'LockBusyError';
}

export class InfraError extends BatchcastError {
  override readonly exitCode = ExitCode.infra;
  override name = 'InfraError';
}

/** A run broke its job's gates: written and profiled, not published. The message is the one line to act on. */
export class HeldError extends BatchcastError {
  override readonly exitCode = ExitCode.held;
  override name = 'HeldError';
}

const infraCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENOSPC',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53100',
  '53200',
  '53300',
]);

const infraMessages =
  /Connection terminated|connection timeout|timeout expired|server closed the connection|Query read timeout|timeout exceeded|not queryable|terminating connection|ECONNREFUSED|ECONNRESET|the database system is (starting up|shutting down)/i;

/** Maps any thrown value to the exit code a scheduler should see, looking through its causes. */
export function exitCodeOf(err: unknown): number {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if (e instanceof BatchcastError) return e.exitCode;
    const code = (e as { code?: string }).code;
    if (code && infraCodes.has(code)) return ExitCode.infra;
    if (infraMessages.test(String((e as Error).message ?? e))) return ExitCode.infra;
  }
  return ExitCode.failed;
}

// node-postgres' own words for its client-side timeouts, said in ours: which timeout fired, and what it means.
const pgTimeouts: [RegExp, string][] = [
  [
    /^Query read timeout$/,
    'query timeout fired (client-side, config queryTimeoutMs): the server did not answer; the connection may be half-open or the server overloaded',
  ],
  [/^timeout expired$/, 'connect timeout fired (config connectTimeoutMs): no connection to PostgreSQL'],
  [/^Connection terminated due to connection timeout$/, 'connect timeout fired (config connectTimeoutMs): no connection to PostgreSQL'],
];

/** One line: the message, then the causes' messages. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    let msg = e instanceof Error ? e.message : String(e);
    for (const [re, said] of pgTimeouts) if (re.test(msg)) msg = said;
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}
