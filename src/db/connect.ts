// The one seam to PostgreSQL: pools and dedicated clients are made here, with timeouts and error listeners,
// and the embedded default is started here when no DATABASE_URL is configured.
import pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { redactUrl } from '../config/load-config.ts';
import { BadInputError, InfraError } from '../errors.ts';
import { type EmbeddedServer, startEmbedded } from './embedded.ts';

// int8 (count(*), bigint ids) as JS numbers: run ids and row counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
// date as 'YYYY-MM-DD' text, never a JS Date shifted by the local time zone.
pg.types.setTypeParser(1082, (v) => v);

export interface Db {
  /** Connection string, password included: never log it, use `where` instead. */
  url: string;
  /** The server, password hidden, for messages. */
  where: string;
  pool: pg.Pool;
  embedded: EmbeddedServer | undefined;
  close(): Promise<void>;
}

export interface ClientOptions {
  applicationName?: string;
  /** Server-side statement_timeout; 0 disables it (COPY, index builds). */
  statementTimeoutMs?: number;
  /** Client-side timeout per query (default config.queryTimeoutMs): fires even when the server is unreachable. */
  queryTimeoutMs?: number;
}

type TimeoutConfig = Pick<Config, 'connectTimeoutMs'> & Partial<Pick<Config, 'queryTimeoutMs'>>;

function clientConfig(url: string, config: TimeoutConfig, opts: ClientOptions): pg.ClientConfig {
  return {
    connectionString: url,
    connectionTimeoutMillis: config.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: opts.applicationName ?? 'batchcast',
    statement_timeout: opts.statementTimeoutMs || undefined,
    query_timeout: opts.queryTimeoutMs ?? config.queryTimeoutMs,
  };
}

/** The server answered and said no: no such database, a wrong password, no pg_hba.conf entry. Retrying will not help. */
const CONFIGURATION_CODES = new Set(['3D000', '28P01', '28000']);

function connectError(where: string, err: unknown): InfraError | BadInputError {
  const msg = err instanceof Error ? err.message : String(err);
  if (CONFIGURATION_CODES.has((err as { code?: string }).code ?? '')) {
    const db = /database "([^"]+)" does not exist/.exec(msg)?.[1];
    return new BadInputError(
      `PostgreSQL at ${where} refused the connection: ${msg}; a configuration error, retrying will not help: ` +
        (db
          ? `create the database (createdb ${db}) or point DATABASE_URL (config databaseUrl) at one that exists`
          : 'fix the user, password or host in DATABASE_URL (config databaseUrl)'),
    );
  }
  return new InfraError(`cannot connect to PostgreSQL at ${where}: ${msg}; check that the server is up and DATABASE_URL is right`, {
    cause: err,
  });
}

/** A dedicated connection (advisory lock, COPY). Its 'error' events are turned into `onError` calls, never crashes. */
export async function connectClient(
  url: string,
  config: TimeoutConfig,
  opts: ClientOptions & { onError?: (err: Error) => void } = {},
): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(url, config, opts));
  client.on('error', (err) => opts.onError?.(err));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectError(redactUrl(url), err);
  }
  return client;
}

/**
 * A dedicated connection to the same server, with the same settings, as `pool`, but not taken from it:
 * for what holds a connection for long (LISTEN, loading a generation) without starving the pool.
 */
export async function connectLike(pool: pg.Pool, opts: ClientOptions & { onError?: (err: Error) => void } = {}): Promise<pg.Client> {
  const base = pool.options as pg.ClientConfig;
  const client = new pg.Client({
    ...base,
    application_name: opts.applicationName ?? base.application_name,
    statement_timeout: opts.statementTimeoutMs === undefined ? base.statement_timeout : opts.statementTimeoutMs || undefined,
    query_timeout: opts.queryTimeoutMs ?? base.query_timeout,
  });
  client.on('error', (err) => opts.onError?.(err));
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectError(redactUrl(base.connectionString), err);
  }
  return client;
}

export function createPool(
  url: string,
  config: TimeoutConfig,
  opts: ClientOptions & { max?: number; onError?: (err: Error) => void } = {},
): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(url, config, opts), max: opts.max ?? 4, idleTimeoutMillis: 30_000 });
  // An idle client whose server went away emits 'error' on the pool; without a listener node would crash.
  pool.on('error', (err) => opts.onError?.(err));
  // pg-pool removes its own listener while a client is checked out, so a server shutdown (57P01) that
  // arrives between two queries of a checked-out client would be an uncaught 'error'. This listener stays;
  // the client's next query then fails, where the caller handles it.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Opens the configured database: DATABASE_URL when set, else the embedded server (started if needed). */
export async function openDb(
  config: Config,
  opts: { log?: (msg: string) => void; poolSize?: number; applicationName?: string; url?: string } = {},
): Promise<Db> {
  const log = opts.log ?? (() => {});
  let embedded: EmbeddedServer | undefined;
  let url = opts.url ?? config.databaseUrl;
  if (!url) {
    embedded = await startEmbedded(config.embedded, log);
    url = embedded.url;
  }
  const where = redactUrl(url);
  const pool = createPool(url, config, {
    max: opts.poolSize,
    applicationName: opts.applicationName,
    statementTimeoutMs: config.statementTimeoutMs,
    onError: (err) => log(`idle database connection lost (${where}): ${err.message}`),
  });
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end().catch(() => {});
    if (embedded?.owned) await embedded.stop().catch(() => {});
    throw connectError(where, err);
  }
  return {
    url,
    where,
    pool,
    embedded,
    async close() {
      await pool.end().catch(() => {});
      if (embedded?.owned) await embedded.stop();
    },
  };
}
