// The ceiling, not a server: node:http answering every request with the same 620-byte lookup answer and
// the same headers as `serve` (x-request-id, etag, cache-control, content type and length), doing no
// lookup at all. What one Node process can answer on this box under the same wrk (README-lookup.md,
// "Quiet machine, 2026-11-22"):
//   node --import tsx bench/load/lookup-bench.ts --server bench/load/lookup-variants/bare-http.ts
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'database-url': { type: 'string' } }, strict: false });
const items = Array.from({ length: 10 }, (_, i) => ({
  item_id: `item-${139 + 131 * i}`,
  score: Math.round((0.97 - 0.03 * i) * 100) / 100,
  rank: i + 1,
}));
const body = JSON.stringify({
  job: 'bench',
  user_id: 'u1',
  prediction_date: '2026-01-01',
  run_id: 2,
  model_version: 'bench-b',
  generated_at: '2026-11-22T05:36:28.995Z',
  source: 'model',
  items,
});
let seq = 0;
http
  .createServer({ noDelay: true, keepAliveTimeout: 5_000, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    if (req.url?.startsWith('/readyz')) {
      res.end('{"status":"ready"}');
      return;
    }
    res.writeHead(200, {
      'x-request-id': `bench-${(++seq).toString(36)}`,
      etag: '"r2"',
      'cache-control': 'private, max-age=60',
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  })
  .listen(Number(values.port), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
