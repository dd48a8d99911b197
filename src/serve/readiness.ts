// GET /readyz[?job=J]: ready when the database answers and the job (by default: every job file the
// server knows) has a published generation. A load balancer should route to the API only then.
import type pg from 'pg';
import { describeError } from '../errors.ts';
import type { JobCatalogue } from './job-catalogue.ts';
import { publishedGenerations } from './lookup.ts';
import type { ServeMetrics } from './metrics.ts';
import { badRequest, json, RETRY_AFTER_SECONDS, type Reply } from './replies.ts';
import { withDeadline } from './with-deadline.ts';

export interface ReadyDeps {
  pool: pg.Pool;
  catalogue: JobCatalogue;
  metrics: ServeMetrics;
  timeoutMs: number;
}

/** Latest published generation per job, also copied into the served-generation gauges. */
export async function refreshServed(deps: ReadyDeps): Promise<Map<string, { date: string; runId: number }>> {
  const published = await withDeadline(deps.pool, deps.timeoutMs, 'readiness check', (c) => publishedGenerations(c));
  for (const [job, g] of published) if (deps.catalogue.get(job)) deps.metrics.setServed(job, g.date, g.runId);
  return published;
}

export async function answerReady(query: string, deps: ReadyDeps): Promise<Reply> {
  const params = new URLSearchParams(query);
  for (const name of params.keys()) if (name !== 'job') return badRequest('query', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}; /readyz takes job`);
  const only = params.get('job');
  if (only !== null && !deps.catalogue.get(only)) {
    return badRequest('job', `job ${JSON.stringify(only.slice(0, 64))} is not a job this server knows (known: ${deps.catalogue.names().join(', ') || 'none'})`);
  }
  const jobs = only !== null ? [only] : deps.catalogue.names();
  const unavailable = (reason: string) => json(503, { status: 'not_ready', reason }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
  if (jobs.length === 0) return unavailable('no job files found in jobs/: nothing to serve');
  let published;
  try {
    published = await refreshServed(deps);
  } catch (err) {
    return { ...unavailable('the database is not reachable'), cause: describeError(err) };
  }
  const missing = jobs.filter((j) => !published.has(j));
  const detail = Object.fromEntries(jobs.filter((j) => published.has(j)).map((j) => {
    const g = published.get(j)!;
    return [j, { prediction_date: g.date, run_id: g.runId }];
  }));
  if (missing.length) {
    return json(503, { status: 'not_ready', reason: `no published generation for ${missing.join(', ')}`, jobs: detail }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
  }
  return json(200, { status: 'ready', jobs: detail });
}
