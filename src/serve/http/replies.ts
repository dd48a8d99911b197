// What the API answers, independent of the HTTP plumbing: a status, a JSON body and a few headers.
// Error bodies are {"error": code, "message": text, ...}; they never carry connection strings or SQL.
import { BatchcastError, ExitCode, exitCodeOf } from '../../errors.ts';
import { OverloadedError } from '../overloaded-error.ts';

export interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
  /** The error behind a 5xx, for the log (never for the client). */
  cause?: unknown;
}

/** Seconds a client should wait after a 503 or 429: the pool retries a fresh connection on the next request. */
export const RETRY_AFTER_SECONDS = 1;

export function json(status: number, value: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(value), headers };
}

export function badRequest(parameter: string, message: string): Reply {
  return json(400, { error: 'bad_request', parameter, message });
}

export function notFound(error: string, message: string, extra: Record<string, unknown> = {}): Reply {
  return json(404, { error, message, ...extra });
}

// SQLSTATE classes that mean "the database is not there or not usable now", not "this request is wrong":
// 08 connection, 53 resources, 57 operator intervention (shutdown, statement timeout 57014), 58 system,
// 3D database missing, 28 authentication; 42P01: the schema is missing (migrate not run yet).
const UNAVAILABLE = /^(08|53|57|58|3D|28|42P01$)/;

export function isUnavailable(err: unknown): boolean {
  if (err instanceof OverloadedError) return true;
  const code = (err as { code?: string } | undefined)?.code;
  if (code && UNAVAILABLE.test(code)) return true;
  return exitCodeOf(err) === ExitCode.infra;
}

/**
 * The connection itself failed (08xxx, 57P0x server shutting down or starting, a socket error with no
 * SQLSTATE), as opposed to a database that is up but slow or short of resources (57014, class 53, the
 * client deadline): only then may a lookup be answered from a generation held in memory.
 */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof OverloadedError || err instanceof BatchcastError) return false;
  const code = (err as { code?: string } | undefined)?.code;
  if (!code) return err instanceof Error;
  return /^(08|57P0|E[A-Z]+$)/.test(code);
}

/** A failure while answering: 503 + Retry-After when waiting may help, else a 500 naming the request id. */
export function failure(err: unknown, requestId: string): Reply {
  if (err instanceof OverloadedError) {
    return {
      ...json(
        503,
        { error: 'overloaded', message: `too many lookups waiting; retry in ${RETRY_AFTER_SECONDS} s` },
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      ),
      cause: err,
    };
  }
  if (isUnavailable(err)) {
    const code = (err as { code?: string }).code;
    const message =
      code === '42P01'
        ? 'the batchcast schema is missing in the lookup database; run `batchcast migrate`'
        : `the recommendations database is not reachable right now; retry in ${RETRY_AFTER_SECONDS} s`;
    return {
      ...json(503, { error: 'database_unavailable', message, request_id: requestId }, { 'retry-after': String(RETRY_AFTER_SECONDS) }),
      cause: err,
    };
  }
  return {
    ...json(500, {
      error: 'internal',
      message: `unexpected error; the server log has the details under request id ${requestId}`,
      request_id: requestId,
    }),
    cause: err,
  };
}
