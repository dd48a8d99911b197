// GET /v1/jobs/{job}/users/{userId}/recommendations: parameters -> one statement (batched) -> JSON.
// The body is plain JSON.stringify: building it by hand with a per-generation prefix cached measured
// 51-58 µs of server CPU per lookup against 44-50 µs for JSON.stringify (bench/README-lookup.md).
import type { JobDefinition } from '../jobs/load-job.ts';
import type { ServeMetrics } from './metrics.ts';
import { BadParameter, parseLookupParams } from './params.ts';
import { badRequest, failure, json, notFound, type Reply } from './replies.ts';
import type { ItemAttributes } from './item-attributes.ts';
import type { JobCatalogue } from './job-catalogue.ts';
import type { Lookups } from './served-generations.ts';

export interface LookupDeps {
  /** Memory first, else PostgreSQL (served-generations.ts). */
  lookups: Lookups;
  catalogue: JobCatalogue;
  metrics: ServeMetrics;
  attributes: ItemAttributes;
  /** Cache-Control max-age; 0 sends no-cache (always revalidate with the ETag). */
  cacheMaxAgeSeconds: number;
}

export interface LookupRequest {
  jobRaw: string;
  userRaw: string;
  query: string;
  ifNoneMatch: string | undefined;
  requestId: string;
}

/** If-None-Match: a list of entity tags (weak or strong) or `*`; compared weakly, as RFC 9110 says for GET. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  for (const tag of ifNoneMatch.split(',')) {
    const t = tag.trim();
    if ((t.startsWith('W/') ? t.slice(2) : t) === etag) return true;
  }
  return false;
}

export async function answerLookup(req: LookupRequest, deps: LookupDeps): Promise<Reply> {
  const { catalogue } = deps;
  const params = parseLookupParams(req.jobRaw, req.userRaw, req.query, (name) => catalogue.get(name) !== undefined, () => catalogue.names());
  if (params instanceof BadParameter) return badRequest(params.parameter, params.message);
  const job = catalogue.get(params.job) as JobDefinition;
  let attributes;
  if (params.attributes) {
    if (!job.items.attributes.length) return badRequest('include', `job ${params.job} declares no item attributes; list columns of its items file in items.attributes of the job file`);
    attributes = await deps.attributes.get(job);
    if (attributes instanceof Error) {
      return { ...json(500, { error: 'attributes_unavailable', message: `the item attributes of job ${params.job} cannot be read; the server log names the file and column`, request_id: req.requestId }), cause: attributes };
    }
  }

  let answer;
  try {
    answer = await deps.lookups.lookup(params.job, params.date, params.userId);
  } catch (err) {
    return failure(err, req.requestId);
  }
  if (!answer) {
    return notFound('generation_not_found', params.date
      ? `job ${params.job} has no published generation for ${params.date}`
      : `job ${params.job} has no published generation yet`, { job: params.job, prediction_date: params.date });
  }
  const { generation: g, user } = answer;
  if (params.date === null) deps.metrics.setServed(params.job, g.predictionDate, g.runId);
  const fallback = !user.found;
  if (!user.itemIds || !user.scores || (fallback && !job.fallback)) {
    return notFound('user_not_found', `user ${JSON.stringify(params.userId)} has no recommendations in job ${params.job} for ${g.predictionDate} (run ${g.runId})`
      + (job.fallback ? ' and the run has no fallback items' : ''),
    { job: params.job, user_id: params.userId, prediction_date: g.predictionDate, run_id: g.runId });
  }
  const stored = g.k > 0 ? g.k : user.itemIds.length;
  if (params.k !== null && params.k > stored) {
    return badRequest('k', `k=${params.k} is more than the ${stored} items stored for job ${params.job} on ${g.predictionDate} (run ${g.runId}); use k from 1 to ${stored}`);
  }
  const source = fallback ? 'fallback' : 'model';
  const etag = `"r${g.runId}${fallback ? '-fallback' : ''}"`;
  const cacheControl = deps.cacheMaxAgeSeconds > 0 ? `private, max-age=${deps.cacheMaxAgeSeconds}` : 'no-cache';
  const headers = { etag, 'cache-control': cacheControl };
  if (matches(req.ifNoneMatch, etag)) return { status: 304, body: '', headers };
  const n = Math.min(params.k ?? stored, user.itemIds.length, user.scores.length);
  const items = new Array<{ item_id: string; score: number | null; rank: number; attributes?: unknown }>(n);
  for (let i = 0; i < n; i++) {
    const score = user.scores[i];
    items[i] = { item_id: user.itemIds[i], score: Number.isFinite(score) ? score : null, rank: i + 1 };
    if (attributes) items[i].attributes = attributes.get(user.itemIds[i]) ?? null;
  }
  const body = JSON.stringify({
    job: params.job, user_id: params.userId, prediction_date: g.predictionDate, run_id: g.runId,
    model_version: g.modelVersion, generated_at: g.generatedAt, source, items,
  });
  return { status: 200, body, headers };
}
