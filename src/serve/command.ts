// `batchcast serve`: flags -> config -> serveLookups, stopped by SIGTERM or SIGINT.
import type { Command } from 'commander';
import { context, globalOptions, int, type GlobalFlags } from '../cli-context.ts';
import type { ConfigOverrides } from '../config.ts';

interface ServeFlags extends GlobalFlags {
  port?: number;
  host?: string;
  lookupDatabaseUrl?: string;
  poolSize?: number;
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
    .option('--pool-size <n>', 'database connections (default: 4)', int('--pool-size'))
    .action(async (opts: ServeFlags) => {
      const serve: NonNullable<ConfigOverrides['serve']> = {};
      if (opts.port !== undefined) serve.port = opts.port;
      if (opts.host !== undefined) serve.host = opts.host;
      if (opts.poolSize !== undefined) serve.poolSize = opts.poolSize;
      const ctx = context(opts, { serve, ...(opts.lookupDatabaseUrl ? { lookupDatabaseUrl: opts.lookupDatabaseUrl } : {}) });
      const { serveLookups } = await import('./serve-lookups.ts');
      await serveLookups({ config: ctx.config, log: ctx.log, until: stopSignal() });
    });
}
