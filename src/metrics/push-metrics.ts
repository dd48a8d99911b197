// After each predict (published, held or failed), the job's metrics go to a Prometheus Pushgateway when
// config metrics.pushgatewayUrl is set: a batch run lives shorter than a scrape interval, so it pushes.
// A push that fails is logged and never fails the run: the predictions matter more than their metrics.
import client from 'prom-client';
import { redactUrl } from '../config/load-config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readJobFigures } from '../store/job-figures.ts';
import { getRun } from '../store/ledger.ts';
import type { Queryable } from '../store/queryable.ts';
import { jobGauges } from './job-metrics.ts';

/** Grouping key: job=batchcast, batchcast_job=<name>; one group per job, replaced or updated by each run. */
export const PUSH_JOB = 'batchcast';

export interface PushOptions {
  url: string;
  db: Queryable;
  job: string;
  /** the run predict returned; undefined when it threw (failed before or after starting a run) */
  runId: number | undefined;
  /** a push that gets no answer within this gives up (prom-client destroys the request) */
  timeoutMs?: number;
}

export interface PushOutcome {
  method: 'push' | 'pushAdd' | 'none';
  succeeded: boolean;
}

/**
 * The last-success gauge must only ever move on a success, and a failure must not erase it, or an alert on
 * `time() - batchcast_job_last_success_timestamp_seconds > 26 * 3600` would fire (no series) or go quiet
 * (a fresh time) for the wrong reason. The Pushgateway gives two verbs for a group:
 * - PUT (prom-client `push`) replaces every metric of the group with the ones sent;
 * - POST (`pushAdd`) replaces only the metrics whose names are sent, and keeps the others.
 * So a successful run PUTs everything, the last-success gauge included (the whole group is fresh, stale
 * series such as the drift of a comparison that no longer exists disappear), and a held or failed run POSTs
 * everything except that gauge: its run counts, last-run figures and drift change, and the last success
 * pushed by an earlier run stays as it was. Held counts as not a success: nothing new was published.
 */
export async function pushJobMetrics(o: PushOptions): Promise<PushOutcome> {
  let succeeded = false;
  if (o.runId !== undefined) {
    succeeded = (await getRun(o.db, o.runId))?.status === 'succeeded';
  }
  const figures = await readJobFigures(o.db, { job: o.job });
  // No run in the ledger (a misspelt job, a job file that does not load): no group to create for it.
  if (!figures.length) return { method: 'none', succeeded };
  const registry = new client.Registry();
  jobGauges(registry, figures, { lastSuccess: succeeded });
  const gateway = new client.Pushgateway(o.url, { timeout: o.timeoutMs ?? 5_000 }, registry);
  const params = { jobName: PUSH_JOB, groupings: { batchcast_job: o.job } };
  if (succeeded) await gateway.push(params);
  else await gateway.pushAdd(params);
  return { method: succeeded ? 'push' : 'pushAdd', succeeded };
}

/**
 * Runs `run` (a predict), then pushes the job's metrics whatever happened, when a Pushgateway is
 * configured. The run's own result or error is what the caller gets; the push only logs.
 */
export async function withMetricsPush<T extends { runId: number }>(
  o: { url: string | undefined; db: Queryable; job: string; log: Logger },
  run: () => Promise<T>,
): Promise<T> {
  if (!o.url) return run();
  let runId: number | undefined;
  try {
    const result = await run();
    runId = result.runId;
    return result;
  } finally {
    await pushJobMetrics({ url: o.url, db: o.db, job: o.job, runId }).then(
      (p) =>
        o.log.info(
          p.method === 'none'
            ? `job ${o.job} has no run in the ledger: no metrics pushed`
            : `metrics of job ${o.job} pushed to the Pushgateway (${p.method === 'push' ? 'PUT, last success updated' : 'POST, last success kept'})`,
        ),
      (err) =>
        o.log.warn(
          `could not push the metrics of job ${o.job} to the Pushgateway at ${redactUrl(o.url)}: ${describeError(err)}; the run is not affected`,
        ),
    );
  }
}
