// GET /openapi.json: the API described for clients and code generators. Kept next to the handlers it
// describes; test/serve-api.test.ts checks that every route answered by the server is listed here.
import { onlineAndExportPaths, onlineAndExportSchemas } from './openapi-score-export.ts';
import { MAX_K, MAX_USER_ID_CHARS } from './params.ts';

const error = (description: string, example: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' }, example } },
});

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } };

export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'batchcast lookup API',
      version,
      description:
        'Precomputed top-K recommendations per user, read from the published generation of a batchcast job. ' +
        'Every answer comes from exactly one generation, also while a new one is being published. ' +
        'Every route but /healthz needs `Authorization: Bearer <key>` once the server has an API key or a JWKS, and always on an address other than loopback (docs/security.md): ' +
        '401 without a valid key, 403 without the scope the route needs.',
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/jobs/{job}/users/{userId}/recommendations': {
        get: {
          operationId: 'getRecommendations',
          summary: "One user's recommendations from the published generation",
          parameters: [
            {
              name: 'job',
              in: 'path',
              required: true,
              description: 'Job name (a file in jobs/)',
              schema: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' },
            },
            {
              name: 'userId',
              in: 'path',
              required: true,
              description: 'User id, percent-encoded',
              schema: { type: 'string', minLength: 1, maxLength: MAX_USER_ID_CHARS },
            },
            {
              name: 'date',
              in: 'query',
              required: false,
              description: 'Prediction date; default: the latest published date of the job',
              schema: { type: 'string', format: 'date' },
            },
            {
              name: 'k',
              in: 'query',
              required: false,
              description: 'Number of items, at most the K stored for the generation; default: all',
              schema: { type: 'integer', minimum: 1, maximum: MAX_K },
            },
            {
              name: 'include',
              in: 'query',
              required: false,
              description:
                'attributes: each item also carries the columns its job lists in items.attributes (e.g. name, km), from the items file',
              schema: { type: 'string', enum: ['attributes'] },
            },
            {
              name: 'If-None-Match',
              in: 'header',
              required: false,
              description: 'ETag of an earlier answer; 304 when the generation is unchanged',
              schema: { type: 'string' },
            },
          ],
          responses: {
            200: {
              description:
                'The recommendations (source "model"; the answer is the same whether it came from memory or from PostgreSQL), or the run\'s most popular items for a user the run has no row for (source "fallback", only when the job sets "fallback": true)',
              headers: {
                ETag: {
                  description:
                    'From the run id: changes exactly when another generation is served (with include=attributes, also when the items file changes)',
                  schema: { type: 'string' },
                },
                'Cache-Control': { schema: { type: 'string' } },
              },
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Recommendations' } } },
            },
            304: { description: 'Not modified: If-None-Match matches the ETag of the generation served now' },
            400: error('A bad parameter; `parameter` names it', {
              error: 'bad_request',
              parameter: 'k',
              message: 'k must be a whole number from 1 to 1000 (got "0")',
            }),
            404: error('No published generation for the job and date, or the user is not in it (and the job has no fallback)', {
              error: 'user_not_found',
              message: 'user "u1" has no recommendations in job demo for 2026-11-20 (run 42)',
            }),
            429: {
              ...error('Over the configured rate limit (serve.rateLimitPerSecond)', {
                error: 'rate_limited',
                message: 'over 1000 lookups per second; retry in 1 s',
              }),
              headers: retryAfter,
            },
            503: {
              ...error(
                'The database is not reachable (and the generation asked for is not held in memory) or the server is overloaded; retry after Retry-After seconds',
                { error: 'database_unavailable', message: 'the recommendations database is not reachable right now; retry in 1 s' },
              ),
              headers: retryAfter,
            },
          },
        },
      },
      ...onlineAndExportPaths(),
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'The process is alive (needs no credential)',
          security: [],
          responses: { 200: { description: 'Alive', content: { 'application/json': { example: { status: 'ok' } } } } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary:
            'The database answers and the job (default: every job) has a published generation; or, while the database does not answer, every such job is held in memory (200, status "degraded")',
          parameters: [{ name: 'job', in: 'query', required: false, schema: { type: 'string' } }],
          responses: {
            200: {
              description: 'Ready, or degraded: answering from memory while the database is away (stay in rotation)',
              content: {
                'application/json': { example: { status: 'ready', jobs: { demo: { prediction_date: '2026-11-20', run_id: 42 } } } },
              },
            },
            400: error('Unknown job or query parameter', {
              error: 'bad_request',
              parameter: 'job',
              message: 'job "x" is not a job this server knows',
            }),
            503: {
              description: 'Not ready',
              headers: retryAfter,
              content: { 'application/json': { example: { status: 'not_ready', reason: 'no published generation for demo' } } },
            },
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`batchcast keys create`) or a JWT from the configured JWKS. Scopes: lookup (recommendations), score (online scoring), export (export.arrow), metrics (/metrics, /readyz); any valid credential reads /openapi.json.',
        },
      },
      schemas: {
        Recommendations: {
          type: 'object',
          required: ['job', 'user_id', 'prediction_date', 'run_id', 'model_version', 'generated_at', 'source', 'items'],
          properties: {
            job: { type: 'string' },
            user_id: { type: 'string' },
            prediction_date: { type: 'string', format: 'date' },
            run_id: { type: 'integer', description: 'The generation served' },
            model_version: { type: 'string' },
            generated_at: { type: 'string', format: 'date-time', description: 'When the run finished' },
            source: { type: 'string', enum: ['model', 'fallback', 'online'] },
            items: {
              type: 'array',
              items: {
                type: 'object',
                required: ['item_id', 'score', 'rank'],
                properties: {
                  item_id: { type: 'string' },
                  score: {
                    type: ['number', 'null'],
                    description: 'Model score; for fallback items, the fraction of users who had the item in their top K',
                  },
                  rank: { type: 'integer', minimum: 1 },
                  attributes: {
                    type: ['object', 'null'],
                    description:
                      'Only with include=attributes: the items.attributes columns of the item (null if the items file no longer has it)',
                    additionalProperties: true,
                  },
                },
              },
            },
          },
        },
        ...onlineAndExportSchemas(),
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: {
              type: 'string',
              description:
                'bad_request, unauthorized, forbidden, user_not_found, generation_not_found, rate_limited, database_unavailable, auth_unavailable, overloaded, not_found, internal',
            },
            message: { type: 'string' },
            parameter: { type: 'string', description: 'The bad parameter (400 only): job, user_id, date, k, include or query' },
            request_id: { type: 'string' },
          },
        },
      },
    },
  };
}
