// bench/load/lookup-variants/fastify-batched.ts without fastify: the same handler (answerLookup) behind a bare
// node:http server with no metrics or request ids, so the two differ only in the framework:
//   node --import tsx bench/load/lookup-bench.ts --server bench/load/lookup-variants/http-batched.ts
import http from 'node:http';
import { parseArgs } from 'node:util';
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
let seq = 0;

const server = http.createServer((req, res) => {
  const u = req.url ?? '/';
  if (u.startsWith('/readyz')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ready"}');
    return;
  }
  const q = u.indexOf('?');
  const parts = (q < 0 ? u : u.slice(0, q)).split('/'); // ['', 'v1', 'jobs', job, 'users', user, 'recommendations']
  Promise.resolve(
    answerLookup(
      {
        jobRaw: parts[3] ?? '',
        userRaw: parts[5] ?? '',
        query: q < 0 ? '' : u.slice(q + 1),
        ifNoneMatch: req.headers['if-none-match'],
        requestId: String(++seq),
      },
      deps,
    ),
  ).then((r) => {
    res.writeHead(r.status, {
      ...r.headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(r.body),
    });
    res.end(r.body);
  });
});
server.listen(Number(values.port), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
