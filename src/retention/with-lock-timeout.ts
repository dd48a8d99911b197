// Retention's DETACH and DROP wait for every reader of the run table: an export that streams a date for
// minutes, or one whose client stopped reading. Waiting without a bound would hold the date's run lock
// (no rerun, no rollback of that date) for as long as the reader lasts; with lock_timeout the drop gives
// up, and the date is left for the next retention (a detach left pending is finished then: dropRunTable).
import type { Queryable } from '../store/queryable.ts';

/** Runs `fn` with lock_timeout = `ms` on `client` (a dedicated connection), then puts the previous value back. */
export async function withLockTimeout<T>(client: Queryable, ms: number, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ was: string }>(`select current_setting('lock_timeout') as was`);
  await client.query(`select set_config('lock_timeout', $1, false)`, [`${Math.trunc(ms)}ms`]);
  try {
    return await fn();
  } finally {
    await client.query(`select set_config('lock_timeout', $1, false)`, [rows[0].was]).catch(() => {});
  }
}

/** Whether `err` is PostgreSQL's "canceling statement due to lock timeout" (55P03). */
export function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '55P03';
}
