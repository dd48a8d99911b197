// The batch jobs' metrics on the API's /metrics (one scrape target for the API and the jobs), read from the
// ledger at scrape time over the pool's spare connection, under the same deadline as /readyz.
import type pg from 'pg';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { collectJobMetrics } from '../../metrics/job-metrics.ts';
import { readJobFigures } from '../../store/job-figures.ts';
import { withDeadline } from '../with-deadline.ts';
import { freshWithin } from './fresh-within.ts';
import type { ServeMetrics } from './serve-metrics.ts';

/** `freshMs`: a scrape reuses figures read this recently (or being read), so scrapes never cost a query each. */
export function serveJobMetrics(metrics: ServeMetrics, deps: { pool: pg.Pool; timeoutMs: number; log: Logger; freshMs: number }): void {
  let driftWarned = false;
  let lastWarn = 0;
  const onDriftUnavailable = (reason: string) => {
    if (driftWarned) return;
    driftWarned = true;
    deps.log.warn(
      `/metrics: no drift figures (${reason}); grant the API's role SELECT on batchcast.run_comparisons, batchcast.run_profiles`,
    );
  };
  const read = freshWithin(deps.freshMs, async () => {
    try {
      return await withDeadline(deps.pool, deps.timeoutMs, 'job metrics', (c) => readJobFigures(c, { onDriftUnavailable }));
    } catch (err) {
      // At most one line a minute: Prometheus scrapes every 15 s or so for as long as the database is down.
      if (Date.now() - lastWarn > 60_000) {
        lastWarn = Date.now();
        deps.log.warn(`/metrics: job metrics not read from the ledger: ${describeError(err)}`);
      }
      throw err;
    }
  });
  collectJobMetrics(metrics.registry, read);
}
