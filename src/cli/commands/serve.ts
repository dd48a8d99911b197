// `batchcast serve`: flags -> config -> serveApi (one process) or the cluster primary (serve.processes > 1),
// stopped by SIGTERM or SIGINT.

import type { ConfigOverrides } from '../../config/load-config.ts';
import type { Command } from '../commander.ts';
import { context, type GlobalFlags, globalOptions, int } from '../context.ts';
import { stopOnSignals } from '../signals.ts';

interface ServeFlags extends GlobalFlags {
  port?: number;
  host?: string;
  lookupDatabaseUrl?: string;
  poolSize?: number;
  processes?: number;
  insecureNoAuth?: boolean;
}

export function serveCommand(program: Command): void {
  globalOptions(program.command('serve'))
    .description('answer GET /v1/jobs/{job}/users/{userId}/recommendations from the published generations')
    .option('--port <n>', 'TCP port (default: 8080, or config serve.port)', int('--port'))
    .option('--host <address>', 'address to listen on (default: 127.0.0.1; 0.0.0.0 for all interfaces)')
    .option('--lookup-database-url <url>', 'read-only role for lookups (default: $LOOKUP_DATABASE_URL, else --database-url)')
    .option('--pool-size <n>', 'database connections per process (default: 4)', int('--pool-size'))
    .option('--processes <n>', 'processes answering on the port, one core each (default: 1, or config serve.processes)', int('--processes'))
    .option('--insecure-no-auth', 'serve without authentication on any address (logs a warning at every start; config auth.insecureNoAuth)')
    .action(async (opts: ServeFlags) => {
      const serve: NonNullable<ConfigOverrides['serve']> = {};
      if (opts.port !== undefined) serve.port = opts.port;
      if (opts.host !== undefined) serve.host = opts.host;
      if (opts.poolSize !== undefined) serve.poolSize = opts.poolSize;
      if (opts.processes !== undefined) serve.processes = opts.processes;
      const ctx = await context(opts, {
        serve,
        ...(opts.insecureNoAuth ? { auth: { insecureNoAuth: true } } : {}),
        ...(opts.lookupDatabaseUrl ? { lookupDatabaseUrl: opts.lookupDatabaseUrl } : {}),
      });
      const { isClusterWorker, runPrimary } = await import('../../serve/http/cluster.ts');
      const until = stopOnSignals().requested;
      if (ctx.config.serve.processes > 1 && !isClusterWorker()) {
        process.exitCode = await runPrimary({ config: ctx.config, log: ctx.log, until });
        return;
      }
      const { serveApi } = await import('../../serve/serve-api.ts');
      await serveApi({ config: ctx.config, log: ctx.log, until });
      // a cluster worker: the IPC channel to the primary would keep the process alive
      if (isClusterWorker()) process.disconnect?.();
    });
}
