// The first lookup server, the baseline: fastify + pg, one query on the view per request, the answer built as
// an object and serialised by fastify. Kept to rerun the "before" row of bench/README-lookup.md:
//   node --import tsx bench/load/lookup-bench.ts --server bench/load/lookup-variants/fastify-naive.ts

import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createPool } from '../../../src/db/connect.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'database-url': { type: 'string' } }, strict: false });
const url = String(values['database-url']);
const pool = createPool(url, loadConfig({ databaseUrl: url }, {}), { max: 8 });
const app = Fastify({ logger: false });

app.get<{ Params: { job: string; userId: string } }>('/v1/jobs/:job/users/:userId/recommendations', async (req, reply) => {
  const { rows } = await pool.query(
    `select prediction_date::text, run_id, model_version, item_id, score, rank from batchcast.recommendations
      where job = $1 and user_id = $2
        and prediction_date = (select max(prediction_date) from batchcast.published where job = $1)
      order by rank`,
    [req.params.job, req.params.userId],
  );
  if (!rows.length) return reply.code(404).send({ error: 'user_not_found' });
  return {
    job: req.params.job,
    user_id: req.params.userId,
    prediction_date: rows[0].prediction_date,
    run_id: rows[0].run_id,
    model_version: rows[0].model_version,
    items: rows.map((r) => ({ item_id: r.item_id, score: r.score, rank: r.rank })),
  };
});
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port: Number(values.port), host: '127.0.0.1' });
const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', stop);
