// GET /v1/jobs/{job}/users/{userId}/recommendations: parameters -> memory, or one statement (batched)
// -> JSON (lookup-body.ts; JSON.stringify when attributes are asked for).
import type { JobDefinition } from '../../jobs/load-job.ts';
import { BadParameter, type LookupParams, parseLookupParams } from '../http/params.ts';
import { badRequest, failure, json, notFound, type Reply } from '../http/replies.ts';
import type { ServeMetrics } from '../http/serve-metrics.ts';
import type { JobCatalogue } from '../job-catalogue.ts';
import type { Attributes, ItemAttributes } from './item-attributes.ts';
import { lookupBody } from './lookup-body.ts';
import type { Lookups, UserAnswer } from './lookups.ts';

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

/**
 * Synchronous when the generation is held in memory and no attributes are asked for: no promise, no
 * microtask between the request and its answer. Otherwise the promise of the database path.
 */
export function answerLookup(req: LookupRequest, deps: LookupDeps): Reply | Promise<Reply> {
  const { catalogue } = deps;
  const params = parseLookupParams(req.jobRaw, req.userRaw, req.query, (name) => catalogue.get(name) !== undefined);
  if (params instanceof BadParameter) return badRequest(params.parameter, params.message);
  const job = catalogue.get(params.job) as JobDefinition;
  if (params.attributes) return withAttributes(params, job, req, deps);
  return lookupAndAnswer(params, job, req, deps, undefined);
}

async function withAttributes(params: LookupParams, job: JobDefinition, req: LookupRequest, deps: LookupDeps): Promise<Reply> {
  if (!job.items.attributes.length)
    return badRequest(
      'include',
      `job ${params.job} declares no item attributes; list columns of its items file in items.attributes of the job file`,
    );
  const attributes = await deps.attributes.get(job);
  if (attributes instanceof Error) {
    return {
      ...json(500, {
        error: 'attributes_unavailable',
        message: `the item attributes of job ${params.job} cannot be read; the server log names the file and column`,
        request_id: req.requestId,
      }),
      cause: attributes,
    };
  }
  return lookupAndAnswer(params, job, req, deps, attributes);
}

function lookupAndAnswer(
  params: LookupParams,
  job: JobDefinition,
  req: LookupRequest,
  deps: LookupDeps,
  attributes: Attributes | undefined,
): Reply | Promise<Reply> {
  let answer;
  try {
    answer = deps.lookups.lookup(params.job, params.date, params.userId);
  } catch (err) {
    return failure(err, req.requestId);
  }
  if (answer instanceof Promise) {
    return answer.then(
      (a) => answerFrom(a, params, job, req, deps, attributes),
      (err) => failure(err, req.requestId),
    );
  }
  return answerFrom(answer, params, job, req, deps, attributes);
}

function answerFrom(
  answer: UserAnswer | undefined,
  params: LookupParams,
  job: JobDefinition,
  req: LookupRequest,
  deps: LookupDeps,
  attributes: Attributes | undefined,
): Reply {
  if (!answer) {
    return notFound(
      'generation_not_found',
      params.date
        ? `job ${params.job} has no published generation for ${params.date}`
        : `job ${params.job} has no published generation yet`,
      { job: params.job, prediction_date: params.date },
    );
  }
  const { generation: g, user } = answer;
  if (params.date === null) deps.metrics.setServed(params.job, g.predictionDate, g.runId);
  const fallback = !user.found;
  if (!user.itemIds || !user.scores || (fallback && !job.fallback)) {
    return notFound(
      'user_not_found',
      `user ${JSON.stringify(params.userId)} has no recommendations in job ${params.job} for ${g.predictionDate} (run ${g.runId})` +
        (job.fallback ? ' and the run has no fallback items' : ''),
      { job: params.job, user_id: params.userId, prediction_date: g.predictionDate, run_id: g.runId },
    );
  }
  const stored = g.k > 0 ? g.k : user.itemIds.length;
  if (params.k !== null && params.k > stored) {
    return badRequest(
      'k',
      `k=${params.k} is more than the ${stored} items stored for job ${params.job} on ${g.predictionDate} (run ${g.runId}); use k from 1 to ${stored}`,
    );
  }
  const source = fallback ? 'fallback' : 'model';
  // with attributes the answer also depends on the items file: its version joins the run id
  const etag = `"r${g.runId}${fallback ? '-fallback' : ''}${attributes ? `-a${attributes.version}` : ''}"`;
  const cacheControl = deps.cacheMaxAgeSeconds > 0 ? `private, max-age=${deps.cacheMaxAgeSeconds}` : 'no-cache';
  const headers = { etag, 'cache-control': cacheControl };
  if (matches(req.ifNoneMatch, etag)) return { status: 304, body: '', headers };
  const n = Math.min(params.k ?? stored, user.itemIds.length, user.scores.length);
  if (!attributes)
    return { status: 200, body: lookupBody(params.job, params.userId, g, source, user.itemIds, user.scores, n, user.itemHeads), headers };
  const items = new Array<{ item_id: string; score: number | null; rank: number; attributes: unknown }>(n);
  for (let i = 0; i < n; i++) {
    const score = user.scores[i];
    items[i] = {
      item_id: user.itemIds[i],
      score: Number.isFinite(score) ? score : null,
      rank: i + 1,
      attributes: attributes.get(user.itemIds[i]) ?? null,
    };
  }
  const body = JSON.stringify({
    job: params.job,
    user_id: params.userId,
    prediction_date: g.predictionDate,
    run_id: g.runId,
    model_version: g.modelVersion,
    generated_at: g.generatedAt,
    source,
    items,
  });
  return { status: 200, body, headers };
}
