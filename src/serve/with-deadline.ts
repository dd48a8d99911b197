// Every database call of the API runs under one deadline covering connect + query. statement_timeout
// alone cannot help when the server hangs or the connection is half-open (no answer ever arrives), so
// the client is also timed here, and a timed-out or broken connection is destroyed, never reused.
import type pg from 'pg';
import { InfraError } from '../errors.ts';

/** Errors after which a connection must not go back to the pool (closed, or in an unknown state). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  if (!code) return true; // no SQLSTATE: a socket or protocol error, not one the server reported
  return /^(08|57P|E[A-Z]+$)/.test(code);
}

export async function withDeadline<T>(
  pool: pg.Pool,
  timeoutMs: number,
  what: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new InfraError(`${what} got no answer from the database within ${timeoutMs} ms (serve.statementTimeoutMs + 1 s)`));
    }, timeoutMs);
  });
  const connecting = pool.connect();
  // A connection that arrives after the deadline goes straight back.
  connecting.then(
    (c) => {
      if (timedOut) c.release();
    },
    () => {},
  );
  let client: pg.PoolClient | undefined;
  try {
    client = await Promise.race([connecting, deadline]);
    const out = await Promise.race([fn(client), deadline]);
    client.release();
    client = undefined;
    return out;
  } catch (err) {
    client?.release(timedOut || isConnectionError(err) ? (err as Error) : undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
