// The same lookup path as `batchcast serve` (answerLookup: micro-batched, prepared, hand-built JSON) behind
// fastify instead of node:http, to measure what the framework costs:
//   node --import tsx bench/load/lookup-bench.ts --server bench/load/lookup-variants/fastify-batched.ts

import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createPool } from '../../../src/db/connect.ts';
import { silentLogger } from '../../../src/log.ts';
import { ServeMetrics } from '../../../src/serve/http/serve-metrics.ts';
import { JobCatalogue } from '../../../src/serve/job-catalogue.ts';
import { answerLookup } from '../../../src/serve/lookups/answer-lookup.ts';
import { ItemAttributes } from '../../../src/serve/lookups/item-attributes.ts';
import { LookupBatcher } from '../../../src/serve/lookups/lookup-batcher.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'database-url': { type: 'string' } }, strict: false });
const url = String(values['database-url']);
const config = loadConfig({ databaseUrl: url }, process.env);
const pool = createPool(url, config, { max: config.serve.poolSize, statementTimeoutMs: config.serve.statementTimeoutMs });
const batcher = new LookupBatcher(pool, { connections: config.serve.poolSize - 1, maxBatch: 64, maxQueued: 10_000, timeoutMs: 3_000 });
const catalogue = new JobCatalogue(config.jobsDir, config.root, silentLogger);
const metrics = new ServeMetrics(() => ({ total: 0, idle: 0, waiting: 0, inFlight: 0, queued: 0 }));
const deps = { lookups: batcher, catalogue, metrics, attributes: new ItemAttributes(silentLogger), cacheMaxAgeSeconds: 60 };
const app = Fastify({ logger: false });

app.get<{ Params: { job: string; userId: string } }>('/v1/jobs/:job/users/:userId/recommendations', async (req, reply) => {
  const q = req.url.indexOf('?');
  const r = await answerLookup(
    {
      jobRaw: req.params.job,
      userRaw: req.params.userId,
      query: q < 0 ? '' : req.url.slice(q + 1),
      ifNoneMatch: req.headers['if-none-match'],
      requestId: String(req.id),
    },
    deps,
  );
  reply
    .code(r.status)
    .headers(r.headers ?? {})
    .type('application/json; charset=utf-8');
  return r.body;
});
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port: Number(values.port), host: '127.0.0.1' });
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', stop);
