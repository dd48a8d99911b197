// GET /readyz[?job=J]: ready when the database answers and the job (by default: every job file the
// server knows, except one with no schedule that has never published) has a published generation. A load balancer should route to the API only then.
// While the database is not reachable, a server that holds every asked-for job's published generation in
// memory answers those lookups (200), so it says 200 "degraded": a Kubernetes readiness probe keeps it in
// rotation, which is right, since taking every replica out during a database restart is the outage the
// memory copy exists to avoid. A job not held in memory makes it 503: its lookups would fail.
import type pg from 'pg';
import { describeError } from '../../errors.ts';
import { publishedGenerations } from '../../store/pointer.ts';
import type { ServedGenerations } from '../generations/served-generations.ts';
import type { JobCatalogue } from '../job-catalogue.ts';
import { withDeadline } from '../with-deadline.ts';
import { badRequest, json, RETRY_AFTER_SECONDS, type Reply } from './replies.ts';
import type { ServeMetrics } from './serve-metrics.ts';

export interface ReadyDeps {
  pool: pg.Pool;
  catalogue: JobCatalogue;
  metrics: ServeMetrics;
  timeoutMs: number;
  served?: Pick<ServedGenerations, 'current' | 'databaseDown' | 'reconnectNow'>;
  /** refreshServed at most 1 s old and single-flight (server.ts), so a probe never costs a query of its own. */
  published?: () => ReturnType<typeof refreshServed>;
}

/** Latest published generation per job, also copied into the served-generation gauges. */
export async function refreshServed(deps: ReadyDeps): Promise<Map<string, { date: string; runId: number }>> {
  // The LISTEN link is down: ask anyway (the database may be back before the link), but do not wait out
  // the full deadline on a database that is probably away; an answer brings the link back at once.
  const down = deps.served?.databaseDown ?? false;
  const published = await withDeadline(deps.pool, down ? Math.min(deps.timeoutMs, 1_000) : deps.timeoutMs, 'readiness check', (c) =>
    publishedGenerations(c),
  );
  if (down) deps.served?.reconnectNow();
  for (const [job, g] of published) if (deps.catalogue.get(job)) deps.metrics.setServed(job, g.date, g.runId);
  return published;
}

export async function answerReady(query: string, deps: ReadyDeps): Promise<Reply> {
  const params = new URLSearchParams(query);
  for (const name of params.keys())
    if (name !== 'job') return badRequest('query', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}; /readyz takes job`);
  const only = params.get('job');
  if (only !== null && !deps.catalogue.get(only)) {
    // The known jobs are not listed: an answer must not enumerate them (docs/security.md).
    return badRequest('job', `job ${JSON.stringify(only.slice(0, 64))} is not a job this server knows`);
  }
  const jobs = only !== null ? [only] : deps.catalogue.names();
  const unavailable = (reason: string) => json(503, { status: 'not_ready', reason }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
  if (jobs.length === 0) return unavailable('no job files found in jobs/: nothing to serve');
  let published;
  try {
    published = await (deps.published ? deps.published() : refreshServed(deps));
  } catch (err) {
    return { ...fromMemory(jobs, deps, unavailable), cause: describeError(err) };
  }
  // A job that has never published and has no schedule is not expected to have anything yet (a new job
  // before its first `predict`): it does not make the server unready unless asked for by name.
  const expected = (j: string) => only !== null || deps.catalogue.get(j)?.schedule !== undefined;
  const missing = jobs.filter((j) => !published.has(j) && expected(j));
  const detail = Object.fromEntries(
    jobs
      .filter((j) => published.has(j))
      .map((j) => {
        const g = published.get(j)!;
        return [j, { prediction_date: g.date, run_id: g.runId }];
      }),
  );
  if (missing.length) {
    return json(
      503,
      { status: 'not_ready', reason: `no published generation for ${missing.join(', ')}`, jobs: detail },
      { 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  }
  return json(200, { status: 'ready', jobs: detail });
}

/** The database is away: ready (degraded) when every job's published generation is in memory. */
function fromMemory(jobs: string[], deps: ReadyDeps, unavailable: (reason: string) => Reply): Reply {
  const held = jobs.map((j) => [j, deps.served?.current(j, null)] as const);
  const missing = held.filter(([, g]) => !g).map(([j]) => j);
  if (missing.length) {
    return unavailable(
      `the database is not reachable${deps.served ? ` and the generation of ${missing.join(', ')} is not held in memory` : ''}`,
    );
  }
  const detail = Object.fromEntries(
    held.map(([j, g]) => [j, { prediction_date: g!.generation.predictionDate, run_id: g!.generation.runId, source: 'memory' }]),
  );
  return json(200, {
    status: 'degraded',
    reason: 'the database is not reachable; lookups are answered from memory, from the generations named here',
    jobs: detail,
  });
}
