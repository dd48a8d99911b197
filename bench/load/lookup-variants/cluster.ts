// `batchcast serve` in N node:cluster workers sharing the port (round-robin by the primary), to measure
// whether a second event loop helps when wrk, node and PostgreSQL share 2 cores:
//   BENCH_PROCESSES=2 node --import tsx bench/load/lookup-bench.ts --server bench/load/lookup-variants/cluster.ts
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../../src/config/load-config.ts';
import { createLogger } from '../../../src/log.ts';
import { serveApi } from '../../../src/serve/serve-api.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'database-url': { type: 'string' } }, strict: false });
const processes = Number(process.env.BENCH_PROCESSES ?? 2);

if (cluster.isPrimary) {
  const workers = Array.from({ length: processes }, () => cluster.fork());
  process.once('SIGTERM', () => {
    for (const w of workers) w.kill('SIGTERM');
    let left = workers.length;
    for (const w of workers)
      w.on('exit', () => {
        if (--left === 0) process.exit(0);
      });
  });
} else {
  const config = loadConfig({ databaseUrl: String(values['database-url']), serve: { port: Number(values.port) } });
  const log = createLogger({ level: 'warn', json: true });
  const until = new Promise((resolve) => process.once('SIGTERM', resolve));
  await serveApi({ config, log, until });
  process.exit(0);
}
