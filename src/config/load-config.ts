// Configuration is read here and nowhere else, in one visible order:
//   code defaults < config/default.json < config/$BATCHCAST_ENV.json < environment < flags.
// The result is validated and frozen; a bad value names itself and says what to do.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../errors.ts';

export interface EmbeddedConfig {
  /** Data directory of the embedded PostgreSQL, relative to root unless absolute. */
  dataDir: string;
  /** 0 = pick a free port (tries 54329 first, so it never collides with a server on 5432). */
  port: number;
  user: string;
  password: string;
  startTimeoutMs: number;
}

export interface Config {
  /** Project root: jobs/, config/ and data/ are looked up here. */
  root: string;
  jobsDir: string;
  /** A real server; when unset the embedded PostgreSQL is used. */
  databaseUrl: string | undefined;
  /** Read-only role for the lookup API; falls back to databaseUrl. */
  lookupDatabaseUrl: string | undefined;
  embedded: EmbeddedConfig;
  /** Inference worker threads, each with its own ONNX Runtime session. */
  workers: number;
  /** ORT intra-op threads per worker. */
  intraOpThreads: number;
  /** Rows per chunk handed from the reader to a worker (each worker runs the model on batch_size rows at a time). */
  chunkRows: number;
  /** DuckDB's memory cap during a run (its checks spill to disk beyond it). */
  duckdbMemoryLimit: string;
  /** DuckDB extensions loaded from local files at connection start; never downloaded at run time. */
  duckdb: DuckdbConfig;
  /** Chunks in flight between read and write (bounds memory). */
  inFlight: number;
  /** Parallel COPY connections. */
  copyConnections: number;
  /** lock_timeout for the publish transaction. */
  publishLockTimeoutMs: number;
  /** statement_timeout for ordinary statements (COPY and index builds are exempt). */
  statementTimeoutMs: number;
  /** Connection timeout for every pg connection. */
  connectTimeoutMs: number;
  /** Client-side: a query with no answer for this long fails (catches half-open connections). */
  queryTimeoutMs: number;
  /** Client-side, on the write connection: index builds and attach may take this long. */
  writeQueryTimeoutMs: number;
  /** A COPY that accepts no data for this long fails (a silent network cut otherwise hangs forever). */
  copyStallTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  serve: ServeConfig;
  /** batchcast schedule and backfill: how child runs are started and stopped. */
  schedule: ScheduleConfig;
  metrics: MetricsConfig;
}

export interface MetricsConfig {
  /** When set, predict pushes the job's metrics here after each run (prom-client's Pushgateway). */
  pushgatewayUrl: string | undefined;
}

export interface DuckdbConfig {
  /** Where `INSTALL` put the extensions (DuckDB looks in <dir>/<version>/<platform>/); unset = ~/.duckdb/extensions. */
  extensionDirectory: string | undefined;
  /** Extension names (looked up in extensionDirectory) or paths to .duckdb_extension files, LOADed in this order. */
  extensions: string[];
  /** Load extensions without DuckDB's signature (ones you built yourself). Off: a tampered file must not load. */
  allowUnsignedExtensions: boolean;
}

export interface ScheduleConfig {
  /** On SIGTERM, how long the scheduler waits for a running run to finish before asking it to stop. */
  graceMs: number;
  /** After asking a run to stop (SIGTERM), how long before it is killed (SIGKILL). */
  killAfterMs: number;
  /** Runs the scheduler starts at once, across all jobs. */
  maxConcurrentRuns: number;
}

export interface ServeConfig {
  host: string;
  /** 0 = any free port (tests). */
  port: number;
  /** Connections to the lookup database; one of them is kept for /readyz and /metrics. */
  poolSize: number;
  /** statement_timeout of lookups; a lookup with no answer 1 s after it gets a 503. */
  statementTimeoutMs: number;
  /** Processes answering on the port (node:cluster); more than 1 uses more cores, each holding its own generations in memory. */
  processes: number;
  /** Lookups per second for the whole service (divided among the processes); 0 = no limit. */
  rateLimitPerSecond: number;
  /** Cache-Control max-age of a lookup answer; 0 = no-cache (clients revalidate with the ETag every time). */
  cacheMaxAgeSeconds: number;
  /** On SIGTERM, how long requests in flight may take before their connections are cut. */
  shutdownTimeoutMs: number;
  /** Online scoring: inference worker threads per job (one ORT session, one intra-op thread each). */
  scoreWorkers: number;
  /** Online scoring: requests allowed to wait for a batch; past it, 503 with Retry-After. */
  scoreMaxQueued: number;
  /** GET /v1/jobs/{job}/dates/{date}/export.arrow; false answers 403. */
  exports: boolean;
  /** Memory for published generations held in the process; one that does not fit is read from PostgreSQL. 0 = never. */
  memoryBudgetMb: number;
  /** Backstop to LISTEN/NOTIFY: the published pointers are re-read this often. */
  pointerPollMs: number;
  /** The LISTEN connection is checked this often; a check unanswered within the same time counts it dead. */
  heartbeatMs: number;
}

export type ConfigOverrides = { [K in keyof Config]?: Config[K] extends object ? Partial<Config[K]> : Config[K] };

const defaults: Config = {
  root: process.cwd(),
  jobsDir: 'jobs',
  databaseUrl: undefined,
  lookupDatabaseUrl: undefined,
  embedded: { dataDir: 'data/pg', port: 0, user: 'postgres', password: 'batchcast', startTimeoutMs: 60_000 },
  // 2 workers x 1 intra-op thread: heavy model, 1M users, 2 cores: 86.7k users/s end to end, against
  // 82.3k for 1 x 2 and 80.6k for 2 x 2 (bench/README.md). One-thread sessions synchronise less, and
  // while one worker encodes, the other runs the model.
  workers: 2,
  intraOpThreads: 1,
  chunkRows: 8192,
  // Keeps a 10M-user run's RSS within 1.2x of a 1M-user run's: light model 458 MB at 10M vs 444 MB at 1M
  // (256MB: 503 vs 420). bench/README.md.
  duckdbMemoryLimit: '128MB',
  duckdb: { extensionDirectory: undefined, extensions: [], allowUnsignedExtensions: false },
  inFlight: 4,
  copyConnections: 1,
  publishLockTimeoutMs: 2_000,
  statementTimeoutMs: 60_000,
  connectTimeoutMs: 10_000,
  queryTimeoutMs: 65_000,
  writeQueryTimeoutMs: 1_800_000,
  copyStallTimeoutMs: 60_000,
  logLevel: 'info',
  // poolSize 4 = 3 lookup statements in flight + 1 for /readyz and /metrics. Batched, 2 to 8 measured alike on
  // 2 cores (bench/README-lookup.md); the spare in-flight statements help when the database is a round trip away.
  serve: { host: '127.0.0.1', port: 8080, poolSize: 4, statementTimeoutMs: 2_000, rateLimitPerSecond: 0, cacheMaxAgeSeconds: 60, shutdownTimeoutMs: 10_000,
    // One scoring worker: at 2k requests/s a batch of ~2 users costs ~0.1 ms of one core (bench/README.md).
    processes: 1, scoreWorkers: 1, scoreMaxQueued: 1_000, exports: true,
    // 1 GB holds ~10M users at K=10 (84 bytes a user measured, 100 estimated before a load; bench/README-lookup.md); a heartbeat every 5 s
    // finds a silently dead LISTEN link within 10 s; the 30 s poll only matters if a NOTIFY is ever lost.
    memoryBudgetMb: 1024, pointerPollMs: 30_000, heartbeatMs: 5_000 },
  // 25 s + 5 s fits Kubernetes' default terminationGracePeriodSeconds of 30 s; raise all three together.
  // One run at a time: a run already uses every core (workers x intra-op threads), a second one only competes.
  schedule: { graceMs: 25_000, killAfterMs: 5_000, maxConcurrentRuns: 1 },
  metrics: { pushgatewayUrl: undefined },
};

function readJson(file: string): ConfigOverrides {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadInputError(`config file ${file} is not valid JSON: ${(err as Error).message}; fix or remove it`, { cause: err });
  }
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$')) delete obj[key];
    else if (!(key in defaults) || key === 'root') {
      throw new BadInputError(`config file ${file}: unknown setting "${key}" (known: ${Object.keys(defaults).filter((k) => k !== 'root').join(', ')})`);
    }
  }
  return obj as ConfigOverrides;
}

function fromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const o: ConfigOverrides = {};
  const int = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new BadInputError(`environment variable ${name}=${JSON.stringify(v)} must be an integer`);
    return n;
  };
  if (env.DATABASE_URL) o.databaseUrl = env.DATABASE_URL;
  if (env.LOOKUP_DATABASE_URL) o.lookupDatabaseUrl = env.LOOKUP_DATABASE_URL;
  if (env.BATCHCAST_JOBS_DIR) o.jobsDir = env.BATCHCAST_JOBS_DIR;
  if (env.BATCHCAST_LOG_LEVEL) o.logLevel = env.BATCHCAST_LOG_LEVEL as Config['logLevel'];
  const embedded: Partial<EmbeddedConfig> = {};
  if (env.BATCHCAST_PG_DIR) embedded.dataDir = env.BATCHCAST_PG_DIR;
  if (int('BATCHCAST_PG_PORT') !== undefined) embedded.port = int('BATCHCAST_PG_PORT');
  if (Object.keys(embedded).length) o.embedded = embedded;
  if (int('BATCHCAST_WORKERS') !== undefined) o.workers = int('BATCHCAST_WORKERS');
  if (int('BATCHCAST_THREADS') !== undefined) o.intraOpThreads = int('BATCHCAST_THREADS');
  if (int('BATCHCAST_COPY_CONNECTIONS') !== undefined) o.copyConnections = int('BATCHCAST_COPY_CONNECTIONS');
  if (int('BATCHCAST_CHUNK_ROWS') !== undefined) o.chunkRows = int('BATCHCAST_CHUNK_ROWS');
  if (int('BATCHCAST_IN_FLIGHT') !== undefined) o.inFlight = int('BATCHCAST_IN_FLIGHT');
  const duckdb: Partial<DuckdbConfig> = {};
  if (env.BATCHCAST_DUCKDB_EXTENSION_DIRECTORY) duckdb.extensionDirectory = env.BATCHCAST_DUCKDB_EXTENSION_DIRECTORY;
  if (env.BATCHCAST_DUCKDB_EXTENSIONS !== undefined) duckdb.extensions = env.BATCHCAST_DUCKDB_EXTENSIONS.split(',').map((e) => e.trim()).filter(Boolean);
  if (env.BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS) duckdb.allowUnsignedExtensions = ['1', 'true'].includes(env.BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS);
  if (Object.keys(duckdb).length) o.duckdb = duckdb;
  const schedule: Partial<ScheduleConfig> = {};
  if (int('BATCHCAST_SCHEDULE_GRACE_MS') !== undefined) schedule.graceMs = int('BATCHCAST_SCHEDULE_GRACE_MS');
  if (int('BATCHCAST_SCHEDULE_MAX_RUNS') !== undefined) schedule.maxConcurrentRuns = int('BATCHCAST_SCHEDULE_MAX_RUNS');
  if (Object.keys(schedule).length) o.schedule = schedule;
  const serve: Partial<ServeConfig> = {};
  if (env.BATCHCAST_SERVE_HOST) serve.host = env.BATCHCAST_SERVE_HOST;
  if (int('BATCHCAST_SERVE_PORT') !== undefined) serve.port = int('BATCHCAST_SERVE_PORT');
  if (int('BATCHCAST_SERVE_POOL_SIZE') !== undefined) serve.poolSize = int('BATCHCAST_SERVE_POOL_SIZE');
  if (int('BATCHCAST_SERVE_RATE_LIMIT') !== undefined) serve.rateLimitPerSecond = int('BATCHCAST_SERVE_RATE_LIMIT');
  if (int('BATCHCAST_SERVE_MEMORY_MB') !== undefined) serve.memoryBudgetMb = int('BATCHCAST_SERVE_MEMORY_MB');
  if (int('BATCHCAST_SERVE_PROCESSES') !== undefined) serve.processes = int('BATCHCAST_SERVE_PROCESSES');
  if (Object.keys(serve).length) o.serve = serve;
  if (env.BATCHCAST_PUSHGATEWAY_URL) o.metrics = { pushgatewayUrl: env.BATCHCAST_PUSHGATEWAY_URL };
  return o;
}

function merge(base: Config, over: ConfigOverrides): Config {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] = cur && typeof cur === 'object' && typeof v === 'object' ? { ...cur, ...v } : v;
  }
  return out as unknown as Config;
}

function check(c: Config): void {
  const positive = (name: string, v: number, max = Infinity) => {
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new BadInputError(`config ${name}=${v} must be an integer between 1 and ${max}`);
    }
  };
  positive('workers', c.workers, 64);
  positive('intraOpThreads', c.intraOpThreads, 256);
  positive('inFlight', c.inFlight, 1024);
  positive('chunkRows', c.chunkRows, 1 << 20);
  positive('copyConnections', c.copyConnections, 32);
  positive('publishLockTimeoutMs', c.publishLockTimeoutMs);
  positive('connectTimeoutMs', c.connectTimeoutMs);
  positive('queryTimeoutMs', c.queryTimeoutMs);
  positive('writeQueryTimeoutMs', c.writeQueryTimeoutMs);
  positive('copyStallTimeoutMs', c.copyStallTimeoutMs);
  positive('schedule.maxConcurrentRuns', c.schedule.maxConcurrentRuns, 64);
  for (const [name, v] of [['schedule.graceMs', c.schedule.graceMs], ['schedule.killAfterMs', c.schedule.killAfterMs]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new BadInputError(`config ${name}=${v} must be a whole number of milliseconds (0 or more)`);
  }
  if (!Number.isInteger(c.embedded.port) || c.embedded.port < 0 || c.embedded.port > 65535) {
    throw new BadInputError(`config embedded.port=${c.embedded.port} must be 0 (pick a free port) or a TCP port`);
  }
  const nonNegative = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new BadInputError(`config ${name}=${v} must be an integer between 0 and ${max}`);
  };
  nonNegative('serve.port', c.serve.port, 65535);
  positive('serve.poolSize', c.serve.poolSize, 100);
  positive('serve.statementTimeoutMs', c.serve.statementTimeoutMs, 600_000);
  nonNegative('serve.rateLimitPerSecond', c.serve.rateLimitPerSecond, 10_000_000);
  nonNegative('serve.cacheMaxAgeSeconds', c.serve.cacheMaxAgeSeconds, 31_536_000);
  positive('serve.shutdownTimeoutMs', c.serve.shutdownTimeoutMs, 600_000);
  positive('serve.processes', c.serve.processes, 64);
  positive('serve.scoreWorkers', c.serve.scoreWorkers, 64);
  positive('serve.scoreMaxQueued', c.serve.scoreMaxQueued, 1_000_000);
  if (typeof c.serve.exports !== 'boolean') throw new BadInputError('config serve.exports must be true or false');
  nonNegative('serve.memoryBudgetMb', c.serve.memoryBudgetMb, 1 << 20);
  positive('serve.pointerPollMs', c.serve.pointerPollMs, 86_400_000);
  positive('serve.heartbeatMs', c.serve.heartbeatMs, 600_000);
  if (typeof c.serve.host !== 'string' || c.serve.host === '') throw new BadInputError('config serve.host must be a host name or address, e.g. 127.0.0.1 or 0.0.0.0');
  checkDuckdb(c.duckdb);
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(c.logLevel)) {
    throw new BadInputError(`config logLevel=${c.logLevel} must be one of debug, info, warn, error, silent`);
  }
  const push = c.metrics.pushgatewayUrl;
  if (push !== undefined && (typeof push !== 'string' || !/^https?:\/\/[^/]/.test(push))) {
    throw new BadInputError(`config metrics.pushgatewayUrl=${JSON.stringify(push)} must be an http:// or https:// URL, e.g. http://pushgateway:9091 (check BATCHCAST_PUSHGATEWAY_URL)`);
  }
  for (const [name, url] of [['databaseUrl', c.databaseUrl], ['lookupDatabaseUrl', c.lookupDatabaseUrl]] as const) {
    if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
      throw new BadInputError(`config ${name} must be a postgres:// URL (got something else; check DATABASE_URL)`);
    }
  }
}

function checkDuckdb(d: DuckdbConfig): void {
  if (d.extensionDirectory !== undefined && (typeof d.extensionDirectory !== 'string' || d.extensionDirectory === '')) {
    throw new BadInputError('config duckdb.extensionDirectory must be a directory path (or unset for ~/.duckdb/extensions)');
  }
  if (!Array.isArray(d.extensions)) {
    throw new BadInputError('config duckdb.extensions must be a list of extension names or .duckdb_extension file paths, e.g. ["httpfs"]');
  }
  if (typeof d.allowUnsignedExtensions !== 'boolean') throw new BadInputError('config duckdb.allowUnsignedExtensions must be true or false');
  for (const e of d.extensions) {
    if (typeof e !== 'string' || !(/^[a-z][a-z0-9_]*$/.test(e) || e.endsWith('.duckdb_extension'))) {
      throw new BadInputError(`config duckdb.extensions: ${JSON.stringify(e)} is neither an extension name (like httpfs) nor a path to a .duckdb_extension file`);
    }
  }
}

/** Builds the configuration. `flags` are the CLI's (or a test's) overrides and win over everything. */
export function loadConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const root = path.resolve(flags.root ?? env.BATCHCAST_ROOT ?? defaults.root);
  let c = merge(defaults, { root });
  const files = [path.join(root, 'config', 'default.json')];
  if (env.BATCHCAST_ENV) {
    const envFile = path.join(root, 'config', `${env.BATCHCAST_ENV}.json`);
    if (!existsSync(envFile)) {
      throw new BadInputError(`BATCHCAST_ENV=${env.BATCHCAST_ENV} but ${envFile} does not exist; create it or unset BATCHCAST_ENV`);
    }
    files.push(envFile);
  }
  for (const f of files) if (existsSync(f)) c = merge(c, readJson(f));
  c = merge(c, fromEnv(env));
  c = merge(c, flags);
  c.root = root;
  c.jobsDir = path.resolve(root, c.jobsDir);
  c.embedded = { ...c.embedded, dataDir: path.resolve(root, c.embedded.dataDir) };
  check(c);
  const { extensionDirectory, extensions } = c.duckdb;
  c.duckdb = {
    ...c.duckdb,
    extensionDirectory: extensionDirectory === undefined ? undefined : path.resolve(root, extensionDirectory),
    extensions: extensions.map((e) => (e.endsWith('.duckdb_extension') ? path.resolve(root, e) : e)),
  };
  return Object.freeze(c);
}

/** Hides the password in a connection string, for logs and error messages. */
export function redactUrl(url: string | undefined): string {
  if (!url) return '(embedded)';
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}
