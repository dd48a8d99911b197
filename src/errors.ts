// Exit codes are part of the interface: cron and Kubernetes alert on them (see README, "Exit codes").
export const ExitCode = {
  ok: 0,
  /** A bug or an error we did not classify. */
  failed: 1,
  /** Bad input: arguments, job file, features, model or items. Rerunning will not help until the input is fixed. */
  badInput: 2,
  /** Another run holds the lock for the same (job, date). Nothing was done; it is safe to retry later. */
  lockBusy: 3,
  /** Infrastructure: database unreachable, connection lost, timeouts, disk. Retrying may help. */
  infra: 4,
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

const infraCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENOSPC',
  '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53100', '53200', '53300',
]);

/** Maps any thrown value to the exit code a scheduler should see. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof BatchcastError) return err.exitCode;
  const code = (err as { code?: string } | undefined)?.code;
  if (code && infraCodes.has(code)) return ExitCode.infra;
  const msg = String((err as Error | undefined)?.message ?? err);
  if (/Connection terminated|connection timeout|timeout expired|server closed the connection/i.test(msg)) return ExitCode.infra;
  return ExitCode.failed;
}

/** One line: the message, then the causes' messages. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ').replace(/\s*\n\s*/g, ' ');
}
