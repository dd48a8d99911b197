// `batchcast serve` minus the flag parsing: open the lookup pool, start the HTTP server, wait for a stop
// signal, then close in reverse order (HTTP first so requests in flight still have their pool).
import type pg from 'pg';
import { type Config, redactUrl } from '../config/load-config.ts';
import { connectClient, createPool, type Db, openDb } from '../db/connect.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { isClusterWorker, workerMetrics } from './http/cluster.ts';
import { type LookupServer, startServer } from './http/server.ts';

export interface ServeOptions {
  config: Config;
  log: Logger;
  /** Resolves when the server should stop (SIGTERM, SIGINT, or a test). */
  until: Promise<unknown>;
  onListening?: (server: LookupServer) => void;
}

interface LookupDb {
  pool: pg.Pool;
  where: string;
  close(): Promise<void>;
}

/** The read-only role when configured (LOOKUP_DATABASE_URL), else DATABASE_URL, else the embedded server. */
async function openLookupDb(config: Config, log: Logger): Promise<LookupDb> {
  const url = config.lookupDatabaseUrl ?? config.databaseUrl;
  const where = redactUrl(url);
  const opts = { max: config.serve.poolSize, applicationName: 'batchcast serve', statementTimeoutMs: config.serve.statementTimeoutMs };
  if (url) {
    // No connection at start: a server started while the database is down answers 503 and recovers by itself.
    const pool = createPool(url, config, { ...opts, onError: (err) => log.warn(`idle lookup connection lost (${where}): ${err.message}`) });
    return { pool, where, close: () => pool.end() };
  }
  const db: Db = await openDb(
    { ...config, statementTimeoutMs: config.serve.statementTimeoutMs },
    {
      poolSize: opts.max,
      applicationName: opts.applicationName,
      log: (m) => log.info(m),
    },
  );
  return { pool: db.pool, where: db.where, close: () => db.close() };
}

/**
 * With lookups on LOOKUP_DATABASE_URL (possibly a hot standby), LISTEN and the pointer re-reads go to the
 * primary: a standby refuses LISTEN, and the pointer must be the primary's. LISTEN_DATABASE_URL names it
 * (the read-only role on the primary: serve needs no writer credentials); else DATABASE_URL.
 */
function primaryConnector(config: Config): (() => Promise<pg.Client>) | undefined {
  const primary = config.listenDatabaseUrl ?? (config.lookupDatabaseUrl ? config.databaseUrl : undefined);
  if (!primary) return undefined;
  return () => connectClient(primary, config, { applicationName: 'batchcast serve listen', onError: () => {} });
}

export async function serveApi(opts: ServeOptions): Promise<void> {
  const { config, log } = opts;
  const db = await openLookupDb(config, log);
  try {
    await db.pool.query('select 1').catch((err) => {
      log.warn(`the lookup database at ${db.where} is not reachable yet (${describeError(err)}); answering 503 until it is`);
    });
    const server = await startServer({
      pool: db.pool,
      connectPrimary: primaryConnector(config),
      connections: Math.max(1, config.serve.poolSize - 1),
      config,
      log,
      logRequests: config.logLevel === 'debug',
    });
    // one of serve.processes: /metrics shows all of them, gathered by the primary
    if (isClusterWorker()) server.metrics.render = workerMetrics(server.metrics.registry);
    try {
      const auth = server.auth.required ? 'authentication on' : 'NO authentication';
      log.info(
        `serving lookups on ${server.url} (database ${db.where}, jobs ${server.catalogue.names().join(', ') || 'none yet'}, ${auth})`,
        {
          url: server.url,
        },
      );
      opts.onListening?.(server);
      await opts.until;
      log.info('stopping: no new connections; finishing requests in flight');
    } finally {
      await server.close();
    }
  } finally {
    await db.close();
    log.info('stopped');
  }
}
