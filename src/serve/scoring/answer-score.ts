// POST /v1/jobs/{job}/score: one user's features -> the job's model (batched with other requests in a
// worker thread) -> the top K, in the lookup's answer shape with "source": "online".
import type http from 'node:http';
import { ExamplesMismatchError } from '../../infer/check-examples.ts';
import type { RateLimit } from '../http/rate-limit.ts';
import { badRequest, failure, json, RETRY_AFTER_SECONDS, type Reply } from '../http/replies.ts';
import type { JobCatalogue } from '../job-catalogue.ts';
import { OverloadedError } from '../overloaded-error.ts';
import type { OnlineScoring } from './online-scoring.ts';
import { BadScoreInput, float32Text, maxBodyBytes, parseScoreBody } from './score-request.ts';

export interface ScoreDeps {
  catalogue: JobCatalogue;
  scoring: OnlineScoring;
  limit: RateLimit;
  rateLimitPerSecond: number;
}

/** Reads the body up to `max` bytes; undefined when it is longer (the rest is left unread: close the connection). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (d: Buffer) => {
      size += d.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      parts.push(d);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
    // A client that goes away mid-body: nothing to answer, but the promise must not wait forever.
    req.on('close', () => resolve(undefined));
  });
}

function decodeJob(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The answer's text names the job and the orders only (no file paths): the server log has the whole message. */
function examplesMismatch(err: ExamplesMismatchError) {
  const own = err.jobOrder.join(',');
  return {
    error: 'examples_mismatch',
    message: err.matching
      ? `job ${err.job} cannot score: its model reproduces the job's examples with the column order ${err.matching.join(',')}, not the job's ${own}; fix features.columns in the job file`
      : `job ${err.job} cannot score: its model does not reproduce the job's examples with the column order ${own} (nor any other order tried); check features.columns and the examples`,
  };
}

export async function answerScore(
  req: http.IncomingMessage,
  jobRaw: string,
  query: string,
  requestId: string,
  deps: ScoreDeps,
): Promise<Reply> {
  const close = { connection: 'close' };
  if (req.method !== 'POST') {
    return json(
      405,
      { error: 'method_not_allowed', message: `${(req.method ?? '').slice(0, 16)} is not allowed; use POST with a JSON body` },
      { allow: 'POST', ...close },
    );
  }
  const name = decodeJob(jobRaw);
  const job = name === undefined ? undefined : deps.catalogue.get(name);
  if (!job) {
    // never a list of the known jobs (docs/security.md)
    return { ...badRequest('job', `job ${JSON.stringify((name ?? jobRaw).slice(0, 64))} is not a job this server knows`), headers: close };
  }
  if (query)
    return {
      ...badRequest('query', 'this endpoint takes no query parameters; send user_id and features in the JSON body'),
      headers: close,
    };
  if (!deps.limit.take()) {
    return json(
      429,
      { error: 'rate_limited', message: `over ${deps.rateLimitPerSecond} scoring requests per second; retry in ${RETRY_AFTER_SECONDS} s` },
      { 'retry-after': String(RETRY_AFTER_SECONDS), ...close },
    );
  }
  const max = maxBodyBytes(job);
  const declared = Number(req.headers['content-length'] ?? 0);
  const body = declared > max ? undefined : await readBody(req, max);
  if (body === undefined) {
    return json(413, { error: 'body_too_large', message: `the body is larger than the ${max} bytes accepted for job ${job.name}` }, close);
  }
  const input = parseScoreBody(job, body.toString('utf8'));
  if (input instanceof BadScoreInput) {
    return json(400, {
      error: 'bad_request',
      parameter: input.parameter,
      ...(input.feature ? { feature: input.feature } : {}),
      message: input.message,
    });
  }

  let scorer;
  let scored;
  try {
    scorer = await deps.scoring.scorer(job);
    scored = await scorer.batcher.score(input.userId, input.features);
  } catch (err) {
    if (err instanceof OverloadedError) {
      return {
        ...json(
          503,
          { error: 'overloaded', message: `${err.message} (serve.scoreMaxQueued); retry in ${RETRY_AFTER_SECONDS} s` },
          { 'retry-after': String(RETRY_AFTER_SECONDS) },
        ),
        cause: err,
      };
    }
    if (err instanceof ExamplesMismatchError) return { ...json(503, examplesMismatch(err)), cause: err };
    return failure(err, requestId);
  }
  if (!scored.ok) {
    // The row a run would reject or skip: the same reason, as a client error. A NaN score means the model
    // cannot score this input (a run skips or rejects such rows too).
    const feature = /^feature (\S+) is/.exec(scored.bad.reason)?.[1];
    const status = feature ? 400 : 422;
    return json(status, {
      error: feature ? 'bad_request' : 'unscorable',
      parameter: 'features',
      ...(feature ? { feature } : {}),
      message: `user ${JSON.stringify(input.userId.slice(0, 64))}: ${scored.bad.reason}`,
    });
  }
  const k = job.k;
  const items = new Array<{ item_id: string; score: number; rank: number }>(k);
  for (let i = 0; i < k; i++) items[i] = { item_id: scorer.itemIds[scored.indices[i]], score: float32Text(scored.values[i]), rank: i + 1 };
  const p = scorer.published;
  return {
    status: 200,
    body: JSON.stringify({
      job: job.name,
      user_id: input.userId,
      prediction_date: p?.predictionDate ?? null,
      run_id: p?.runId ?? null,
      model_version: scorer.model.version,
      generated_at: new Date().toISOString(),
      source: 'online',
      items,
    }),
    headers: { 'cache-control': 'no-store' },
  };
}
