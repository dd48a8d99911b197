// The OpenAPI description of online scoring and the Arrow export, merged into openapi.ts's document.
import { MAX_USER_ID_CHARS } from './params.ts';

const errorRef = (description: string, example: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' }, example } },
});
const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } };
const jobParameter = {
  name: 'job',
  in: 'path',
  required: true,
  description: 'Job name (a file in jobs/)',
  schema: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' },
};

export function onlineAndExportPaths(): Record<string, unknown> {
  return {
    '/v1/jobs/{job}/score': {
      post: {
        operationId: 'scoreUser',
        summary: "Score one user now with the job's model (users the batch never saw): same model, checks and top K as a run",
        parameters: [jobParameter],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { $ref: '#/components/schemas/ScoreRequest' },
              example: { user_id: 'u1', features: { likes_park: 0.4, likes_river: 0.1 } },
            },
          },
        },
        responses: {
          200: {
            description:
              'The top K, in the lookup\'s shape with source "online"; prediction_date and run_id name the job\'s published generation (null when none), model_version the model that scored',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Recommendations' } } },
          },
          400: errorRef(
            'Bad body, user id or feature; `parameter` names it, and `feature` the feature (missing, extra, not a number, NULL, NaN or infinite)',
            {
              error: 'bad_request',
              parameter: 'features',
              feature: 'likes_park',
              message: 'feature likes_park is missing; job demo needs all of ...',
            },
          ),
          405: errorRef('Not POST', { error: 'method_not_allowed', message: 'GET is not allowed; use POST with a JSON body' }),
          413: errorRef('Body larger than the job accepts', {
            error: 'body_too_large',
            message: 'the body is larger than the 4544 bytes accepted for job demo',
          }),
          422: errorRef('The model produced a NaN score for these features (a run would skip or reject the row)', {
            error: 'unscorable',
            parameter: 'features',
            message: 'user "u1": model produced a NaN score',
          }),
          429: {
            ...errorRef('Over serve.rateLimitPerSecond', {
              error: 'rate_limited',
              message: 'over 1000 scoring requests per second; retry in 1 s',
            }),
            headers: retryAfter,
          },
          503: {
            ...errorRef(
              "The scoring queue is full (serve.scoreMaxQueued; retry after Retry-After seconds), or error examples_mismatch: the job's column order does not reproduce its examples",
              {
                error: 'overloaded',
                message: '1000 scoring requests already waiting for the model (serve.scoreMaxQueued); retry in 1 s',
              },
            ),
            headers: retryAfter,
          },
        },
      },
    },
    '/v1/jobs/{job}/dates/{date}/export.arrow': {
      get: {
        operationId: 'exportGeneration',
        summary: 'The published generation of (job, date) as one Arrow IPC stream: user_id Utf8, item_ids List<Utf8>, scores List<Float32>',
        parameters: [jobParameter, { name: 'date', in: 'path', required: true, schema: { type: 'string', format: 'date' } }],
        responses: {
          200: {
            description:
              'Arrow IPC stream, record batches of 8,192 users in user id order; schema metadata names job, date, run id, model version and k',
            headers: { 'X-Batchcast-Run-Id': { description: 'The generation exported', schema: { type: 'integer' } } },
            content: { 'application/vnd.apache.arrow.stream': { schema: { type: 'string', format: 'binary' } } },
          },
          400: errorRef('Unknown job or bad date', {
            error: 'bad_request',
            parameter: 'date',
            message: 'date "2026-02-30" is not a real calendar day',
          }),
          403: errorRef('Exports are turned off (serve.exports = false)', {
            error: 'exports_disabled',
            message: 'bulk export is turned off on this server (config serve.exports = false)',
          }),
          404: errorRef('Nothing published for the job and date', {
            error: 'generation_not_found',
            message: 'job demo, date 2026-01-02: nothing is published',
          }),
          503: {
            ...errorRef('Another export is streaming from this server, or the database is down', {
              error: 'export_busy',
              message: 'another export is streaming from this server; retry in 1 s',
            }),
            headers: retryAfter,
          },
        },
      },
    },
  };
}

export function onlineAndExportSchemas(): Record<string, unknown> {
  return {
    ScoreRequest: {
      type: 'object',
      required: ['user_id', 'features'],
      additionalProperties: false,
      properties: {
        user_id: { type: ['string', 'integer'], minLength: 1, maxLength: MAX_USER_ID_CHARS },
        features: {
          description:
            "An object keyed by the job's features.columns (every one, no other), or an array of features.list_size numbers for a list-column job. null counts as a NULL feature.",
          oneOf: [
            { type: 'object', additionalProperties: { type: ['number', 'null'] } },
            { type: 'array', items: { type: ['number', 'null'] } },
          ],
        },
      },
    },
  };
}
