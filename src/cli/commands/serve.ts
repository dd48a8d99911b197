// `batchcast serve`: flags -> config -> serveLookups, stopped by SIGTERM or SIGINT.
import type { Command } from 'commander';
import { context, globalOptions, int, type GlobalFlags } from '../context.ts';
import type { ConfigOverrides } from '../../config/load-config.ts';

interface ServeFlags extends GlobalFlags {
  port?: number;
  host?: string;
  lookupDatabaseUrl?: string;
  poolSize?: number;
  processes?: number;
}

function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
  });
}

export function registerServeCommand(program: Command): void {
  globalOptions(program.command('serve'))
    .description('answer GET /v1/jobs/{job}/users/{userId}/recommendations from the published generations')
    .option('--port <n>', 'TCP port (default: 8080, or config serve.port)', int('--port'))
    .option('--host <address>', 'address to listen on (default: 127.0.0.1; 0.0.0.0 for all interfaces)')
    .option('--lookup-database-url <url>', 'read-only role for lookups (default: $LOOKUP_DATABASE_URL, else --database-url)')
    .option('--pool-size <n>', 'database connections per process (default: 4)', int('--pool-size'))
    .option('--processes <n>', 'processes answering on the port, one core each (default: 1, or config serve.processes)', int('--processes'))
    .action(async (opts: ServeFlags) => {
      const serve: NonNullable<ConfigOverrides['serve']> = {};
      if (opts.port !== undefined) serve.port = opts.port;
      if (opts.host !== undefined) serve.host = opts.host;
      if (opts.poolSize !== undefined) serve.poolSize = opts.poolSize;
      if (opts.processes !== undefined) serve.processes = opts.processes;
      const ctx = context(opts, { serve, ...(opts.lookupDatabaseUrl ? { lookupDatabaseUrl: opts.lookupDatabaseUrl } : {}) });
      const { isClusterWorker, runPrimary } = await import('../../serve/http/cluster.ts');
      if (ctx.config.serve.processes > 1 && !isClusterWorker()) {
        process.exitCode = await runPrimary({ config: ctx.config, log: ctx.log, until: stopSignal() });
        return;
      }
      const { serveLookups } = await import('../../serve/serve-api.ts');
      await serveLookups({ config: ctx.config, log: ctx.log, until: stopSignal() });
      // a cluster worker: the IPC channel to the primary would keep the process alive
      if (isClusterWorker()) process.disconnect?.();
    });
}
