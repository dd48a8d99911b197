// Every setting once: its type, default, environment variable, bounds and description, in Zod 4.
// load-config.ts reads config files, the environment and flags against this schema, and derives the
// `Config` types from it; docs/configuration.md is generated from it (`npm run docs:config`), and
// test/config.test.ts fails when that file is out of date.
//
// To add a setting: add it to its group below with a default (or `.optional()` for "unset"), a
// `description` and, if the environment may set it, an `env`; then run `npm run docs:config`.
// A comment next to a default gives the measurement that chose it.
import { z } from 'zod';
import { bool, int, list, matching, millis, oneOf, section, text } from './setting-types.ts';

const postgresUrl = () =>
  matching(
    /^postgres(ql)?:\/\//,
    'must be a postgres:// URL, e.g. postgres://user:password@host:5432/db',
    'postgres:// or postgresql:// URL',
  );

export const projectSettings = {
  root: text('must be a directory path', 'a directory').meta({
    env: 'BATCHCAST_ROOT',
    notInFiles: true,
    defaultText: 'the current directory',
    description:
      'Project root: jobs/, config/ and data/ are looked up here. Not accepted in a config file, since the config files are found under it.',
  }),
  jobsDir: text()
    .default('jobs')
    .meta({ env: 'BATCHCAST_JOBS_DIR', description: 'Folder of job files (`<name>.json`); relative to root unless absolute.' }),
  logLevel: oneOf(['debug', 'info', 'warn', 'error', 'silent']).default('info').meta({
    env: 'BATCHCAST_LOG_LEVEL',
    description: 'The least severe log line written (--quiet raises it to warn for one command).',
  }),
};

export const databaseSettings = {
  databaseUrl: postgresUrl().optional().meta({
    env: 'DATABASE_URL',
    secret: true,
    description:
      'A real PostgreSQL server; when unset the embedded PostgreSQL is used (embedded.*). Keep it in the environment: it holds the password.',
  }),
  lookupDatabaseUrl: postgresUrl().optional().meta({
    env: 'LOOKUP_DATABASE_URL',
    secret: true,
    description: 'Read-only role for the lookup API (batchcast serve); falls back to databaseUrl.',
  }),
  listenDatabaseUrl: postgresUrl().optional().meta({
    env: 'LISTEN_DATABASE_URL',
    secret: true,
    description:
      "The primary, for batchcast serve's LISTEN and pointer re-reads when lookupDatabaseUrl is a hot standby (which refuses LISTEN); the read-only role on the primary will do. Default: databaseUrl when lookupDatabaseUrl is set, else the lookup database.",
  }),
  connectTimeoutMs: millis(1).default(10_000).meta({ description: 'Connection timeout for every PostgreSQL connection.' }),
  statementTimeoutMs: millis(0)
    .default(60_000)
    .meta({ description: 'statement_timeout for ordinary statements (COPY and index builds are exempt); 0 = none.' }),
  queryTimeoutMs: millis(1)
    .default(65_000)
    .meta({ description: 'Client-side: a query with no answer for this long fails (catches half-open connections).' }),
  writeQueryTimeoutMs: millis(1)
    .default(1_800_000)
    .meta({ description: 'Client-side, on the write connection: index builds and attach may take this long.' }),
  copyStallTimeoutMs: millis(1)
    .default(60_000)
    .meta({ description: 'A COPY that accepts no data for this long fails (a silent network cut otherwise hangs forever).' }),
  publishLockTimeoutMs: millis(1).default(2_000).meta({ description: 'lock_timeout for the publish transaction.' }),
  archiveTimeoutMs: millis(1).default(3_600_000).meta({
    description: "statement_timeout of retention's archive COPY (a whole date's published rows to Parquet), instead of statementTimeoutMs.",
  }),
  retentionLockTimeoutMs: millis(1).default(30_000).meta({
    description:
      "lock_timeout for retention's DETACH and DROP: behind a long reader (an export) the date is left for the next retention instead of waiting with its run lock held.",
  }),
};

export const runSettings = {
  // 2 workers x 1 intra-op thread: heavy model, 1M users, 2 cores: 86.7k users/s end to end, against
  // 82.3k for 1 x 2 and 80.6k for 2 x 2 (bench/README.md). One-thread sessions synchronise less, and
  // while one worker encodes, the other runs the model.
  workers: int(1, 64).default(2).meta({
    env: 'BATCHCAST_WORKERS',
    description: "Inference worker threads, each with its own ONNX Runtime session. A job's workers overrides it.",
  }),
  intraOpThreads: int(1, 256)
    .default(1)
    .meta({ env: 'BATCHCAST_THREADS', description: "ONNX Runtime intra-op threads per worker. A job's intra_op_threads overrides it." }),
  chunkRows: int(1, 1 << 20)
    .default(8192)
    .meta({
      env: 'BATCHCAST_CHUNK_ROWS',
      description: 'Rows per chunk handed from the reader to a worker (each worker runs the model on batch_size rows at a time).',
    }),
  inFlight: int(1, 1024)
    .default(4)
    .meta({ env: 'BATCHCAST_IN_FLIGHT', description: 'Chunks in flight between read and write (bounds memory).' }),
  copyConnections: int(1, 32).default(1).meta({
    env: 'BATCHCAST_COPY_CONNECTIONS',
    description: 'Parallel COPY connections; more helps only when PostgreSQL has idle cores.',
  }),
  // Keeps a 10M-user run's RSS within 1.2x of a 1M-user run's: light model 458 MB at 10M vs 444 MB at 1M
  // (256MB: 503 vs 420). bench/README.md.
  duckdbMemoryLimit: text('must be a size DuckDB understands, e.g. 128MB or 1GB', 'a size, e.g. 128MB').default('128MB').meta({
    description: "DuckDB's memory cap during a run and while archiving (its checks spill to disk beyond it).",
  }),
  driftDiscreteValues: int(1, 1000).default(20).meta({
    description:
      'A feature with at most this many distinct values in a run\'s profile sample is binned by value for drift (docs/guardrails.md, "Bins").',
  }),
};

export const duckdbSettings = {
  extensionDirectory: text('must be a directory path (or unset for ~/.duckdb/extensions)', 'a directory').optional().meta({
    env: 'BATCHCAST_DUCKDB_EXTENSION_DIRECTORY',
    description:
      'Where `INSTALL` put the extensions (DuckDB looks in `<dir>/<version>/<platform>/`); unset = `~/.duckdb/extensions`. Relative to root unless absolute.',
  }),
  extensions: list(
    z
      .string()
      .regex(/^[a-z][a-z0-9_]*$|\.duckdb_extension$/, 'is neither an extension name (like httpfs) nor a path to a .duckdb_extension file'),
    'must be a list of extension names or .duckdb_extension file paths, e.g. ["httpfs"]',
    'names or .duckdb_extension paths',
  )
    .default([])
    .meta({
      env: 'BATCHCAST_DUCKDB_EXTENSIONS',
      description:
        'Extension names (looked up in extensionDirectory) or paths to .duckdb_extension files (relative to root unless absolute), LOADed in this order at connection start. ' +
        'Never downloaded at run time: `batchcast install-extensions` downloads the named ones for this exact DuckDB, at image build time. A configured one that is missing fails the run with exit 2.',
    }),
  allowUnsignedExtensions: bool().default(false).meta({
    env: 'BATCHCAST_DUCKDB_ALLOW_UNSIGNED_EXTENSIONS',
    description:
      "Load extensions without DuckDB's signature (ones you built yourself). Off: an unsigned or tampered file fails the run with exit 2.",
  }),
};

export const serveSettings = {
  host: text('must be a host name or address, e.g. 127.0.0.1 or 0.0.0.0', 'a host name or address').default('127.0.0.1').meta({
    env: 'BATCHCAST_SERVE_HOST',
    description: 'Address the lookup API listens on; 0.0.0.0 for all interfaces.',
  }),
  port: int(0, 65535).default(8080).meta({ env: 'BATCHCAST_SERVE_PORT', description: 'TCP port; 0 = any free port (tests).' }),
  // poolSize 4 = 3 lookup statements in flight + 1 for /readyz and /metrics. Batched, 2 to 8 measured alike on
  // 2 cores (bench/README-lookup.md); the spare in-flight statements help when the database is a round trip away.
  poolSize: int(1, 100).default(4).meta({
    env: 'BATCHCAST_SERVE_POOL_SIZE',
    description: 'Connections to the lookup database per process; one of them is kept for /readyz and /metrics.',
  }),
  statementTimeoutMs: int(1, 600_000)
    .default(2_000)
    .meta({ description: 'statement_timeout of lookups; a lookup with no answer 1 s after it gets a 503.' }),
  processes: int(1, 64).default(1).meta({
    env: 'BATCHCAST_SERVE_PROCESSES',
    description: 'Processes answering on the port (node:cluster); more than 1 uses more cores, each holding its own generations in memory.',
  }),
  rateLimitPerSecond: int(0, 10_000_000).default(0).meta({
    env: 'BATCHCAST_SERVE_RATE_LIMIT',
    description: 'Lookups per second for the whole service (divided among the processes); 0 = no limit.',
  }),
  cacheMaxAgeSeconds: int(0, 31_536_000).default(60).meta({
    description: 'Cache-Control max-age of a lookup answer; 0 = no-cache (clients revalidate with the ETag every time).',
  }),
  shutdownTimeoutMs: int(1, 600_000)
    .default(10_000)
    .meta({ description: 'On SIGTERM, how long requests in flight may take before their connections are cut.' }),
  // One scoring worker: at 2k requests/s a batch of ~2 users costs ~0.1 ms of one core (bench/README.md).
  scoreWorkers: int(1, 64)
    .default(1)
    .meta({ description: 'Online scoring: inference worker threads per job (one ONNX Runtime session, one intra-op thread each).' }),
  scoreMaxQueued: int(1, 1_000_000)
    .default(1_000)
    .meta({ description: 'Online scoring: requests allowed to wait for a batch; past it, 503 with Retry-After.' }),
  corsOrigins: list(
    z.string().regex(/^https?:\/\/[^/\s]+$/, 'is not an origin like https://app.example.com (scheme and host, no path)'),
    'must be a list of origins, e.g. ["https://app.example.com"]',
    'origins',
  )
    .default([])
    .meta({ env: 'BATCHCAST_SERVE_CORS_ORIGINS', description: 'Browser origins allowed to call the API (CORS); empty = none.' }),
  exports: bool().default(true).meta({ description: 'GET /v1/jobs/{job}/dates/{date}/export.arrow; false answers 403.' }),
  // A client that stops reading would otherwise hold the one export slot, a pool connection and a snapshot
  // (which also holds back retention's DROP) for as long as its socket stays open.
  exportIdleTimeoutMs: int(1, 3_600_000)
    .default(30_000)
    .meta({ description: 'An export whose client reads nothing for this long is cut, freeing its slot, connection and snapshot.' }),
  // 1 GB holds ~10M users at K=10 (84 bytes a user measured, 100 estimated before a load; bench/README-lookup.md).
  memoryBudgetMb: int(0, 1 << 20)
    .default(1024)
    .meta({
      env: 'BATCHCAST_SERVE_MEMORY_MB',
      description: 'Memory for published generations held in the process; one that does not fit is read from PostgreSQL. 0 = never.',
    }),
  // The 30 s poll only matters if a NOTIFY is ever lost.
  pointerPollMs: int(1, 86_400_000)
    .default(30_000)
    .meta({ description: 'Backstop to LISTEN/NOTIFY: the published pointers are re-read this often.' }),
  // A heartbeat every 5 s finds a silently dead LISTEN link within 10 s.
  heartbeatMs: int(1, 600_000).default(5_000).meta({
    description: 'The LISTEN connection is checked this often; a check unanswered within the same time counts it dead.',
  }),
};

// Who may call the API (docs/security.md). API keys live in the database (`batchcast keys`), not here.
export const authSettings = {
  insecureNoAuth: bool().default(false).meta({
    env: 'BATCHCAST_INSECURE_NO_AUTH',
    description:
      'Serve every route without authentication, on any address (flag --insecure-no-auth); a warning is logged at every start. Only behind a gateway that authenticates.',
  }),
  // 5 s: a revoked key is refused within 5 s plus one query, at one small query per 5 s per process.
  keysRefreshMs: int(100, 600_000)
    .default(5_000)
    .meta({ description: 'serve re-reads the active API keys this often: a revoked key is refused at most this long after.' }),
  jwksUrl: matching(/^https?:\/\/[^/]/, 'must be an http:// or https:// URL of a JWKS document', 'http:// or https:// URL')
    .optional()
    .meta({
      env: 'BATCHCAST_JWKS_URL',
      description: "Also accept JWTs (Authorization: Bearer) signed by a key of this JWKS, e.g. your identity provider's jwks_uri.",
    }),
  jwtIssuer: text()
    .optional()
    .meta({ env: 'BATCHCAST_JWT_ISSUER', description: 'A JWT must carry this `iss` (recommended with jwksUrl).' }),
  jwtAudience: text()
    .optional()
    .meta({ env: 'BATCHCAST_JWT_AUDIENCE', description: 'A JWT must carry this `aud` (recommended with jwksUrl).' }),
  jwtScopeClaim: text()
    .default('scope')
    .meta({ description: 'The JWT claim holding the scopes: a space-separated string or an array (lookup, score, export, metrics).' }),
};

export const scheduleSettings = {
  // 25 s + 5 s (killAfterMs) fits Kubernetes' default terminationGracePeriodSeconds of 30 s; raise all three together.
  graceMs: millis(0).default(25_000).meta({
    env: 'BATCHCAST_SCHEDULE_GRACE_MS',
    description: 'On SIGTERM, how long the scheduler waits for a running run to finish before asking it to stop.',
  }),
  killAfterMs: millis(0)
    .default(5_000)
    .meta({ description: 'After asking a run to stop (SIGTERM), how long before it is killed (SIGKILL).' }),
  // One run at a time: a run already uses every core (workers x intra-op threads), a second one only competes.
  maxConcurrentRuns: int(1, 64)
    .default(1)
    .meta({ env: 'BATCHCAST_SCHEDULE_MAX_RUNS', description: 'Runs the scheduler starts at once, across all jobs.' }),
};

export const metricsSettings = {
  pushgatewayUrl: matching(
    /^https?:\/\/[^/]/,
    'must be an http:// or https:// URL, e.g. http://pushgateway:9091',
    'http:// or https:// URL',
  )
    .optional()
    .meta({
      env: 'BATCHCAST_PUSHGATEWAY_URL',
      description: "When set, predict pushes the job's metrics here after each run (a Prometheus Pushgateway).",
    }),
};

// The webhook URL (Slack's embeds its secret) and the Authorization header are credentials: set them in
// the environment, not in a config file that is committed.
export const alertsSettings = {
  webhookUrl: matching(/^https?:\/\/[^/]/, 'must be an http:// or https:// URL', 'http:// or https:// URL')
    .optional()
    .meta({
      env: 'BATCHCAST_ALERT_WEBHOOK_URL',
      secret: true,
      description:
        '`schedule` POSTs an alert here when a date is held, fails, or is late (past its wait_for_data timeout). Unset: no alerts.',
    }),
  format: oneOf(['slack', 'json']).default('slack').meta({
    env: 'BATCHCAST_ALERT_FORMAT',
    description:
      'slack: `{"text": ...}`, which Slack, Mattermost, Teams workflows and Discord (`/slack`) accept; json: the alert as fields.',
  }),
  authorization: text()
    .optional()
    .meta({ env: 'BATCHCAST_ALERT_AUTHORIZATION', secret: true, description: 'Sent as the Authorization header, e.g. `Bearer <token>`.' }),
  // 2 s per attempt and 3 attempts (backoff 0.5 s, 1 s): a receiver down costs a delivery about 8 s, in the background.
  timeoutMs: millis(1).default(2_000).meta({ description: 'One delivery attempt gives up after this long.' }),
  attempts: int(1, 10)
    .default(3)
    .meta({ description: 'Attempts per alert, with exponential backoff between them (0.5 s, 1 s, 2 s, ...).' }),
  flushMs: millis(0)
    .default(5_000)
    .meta({ description: 'At exit, how long alerts still being delivered may delay it; then they are dropped (and logged).' }),
};

export const embeddedSettings = {
  dataDir: text()
    .default('data/pg')
    .meta({ env: 'BATCHCAST_PG_DIR', description: 'Data directory of the embedded PostgreSQL; relative to root unless absolute.' }),
  port: int(0, 65535, 'must be 0 (pick a free port) or a TCP port').default(0).meta({
    env: 'BATCHCAST_PG_PORT',
    description: '0 = pick a free port (tries 54329 first, so it never collides with a server on 5432).',
  }),
  user: text().default('postgres').meta({ description: 'Superuser of the embedded PostgreSQL.' }),
  password: text().default('batchcast').meta({ secret: true, description: 'Its password (the server listens on 127.0.0.1 only).' }),
  startTimeoutMs: millis(1)
    .default(60_000)
    .meta({ description: 'How long creating the embedded database (initdb), and then starting it, may each take.' }),
};

const configShape = {
  ...projectSettings,
  ...databaseSettings,
  ...runSettings,
  duckdb: section(duckdbSettings),
  serve: section(serveSettings),
  auth: section(authSettings),
  schedule: section(scheduleSettings),
  metrics: section(metricsSettings),
  alerts: section(alertsSettings),
  embedded: section(embeddedSettings),
};

export const configSchema = z.strictObject(configShape, {
  error: (iss) =>
    iss.code === 'unrecognized_keys'
      ? `is not a known setting (known: ${Object.keys(configShape).join(', ')})`
      : 'must be an object of settings',
});

/** The groups of docs/configuration.md, in its order: top-level settings by topic, then one per section. */
export const settingGroups: { title: string; about: string; section?: string; settings: z.ZodRawShape }[] = [
  { title: 'Project', about: 'Where batchcast finds its files, and how much it logs.', settings: projectSettings },
  {
    title: 'Database',
    about: 'The PostgreSQL that runs are written to and the lookup API reads, and the timeouts of every connection to it.',
    settings: databaseSettings,
  },
  { title: 'Run', about: 'How `batchcast predict` reads, scores and writes a date.', settings: runSettings },
  {
    title: 'DuckDB extensions',
    section: 'duckdb',
    about: 'Extensions loaded from local files when a DuckDB connection starts (e.g. httpfs, to read features from S3).',
    settings: duckdbSettings,
  },
  { title: 'Serve', section: 'serve', about: '`batchcast serve`: the lookup API and online scoring.', settings: serveSettings },
  { title: 'Auth', section: 'auth', about: 'Who may call `batchcast serve`: API keys, JWTs, or nobody checked.', settings: authSettings },
  {
    title: 'Schedule',
    section: 'schedule',
    about: '`batchcast schedule` and `backfill`: how child runs are started and stopped.',
    settings: scheduleSettings,
  },
  { title: 'Metrics', section: 'metrics', about: 'Job metrics pushed after each run.', settings: metricsSettings },
  {
    title: 'Alerts',
    section: 'alerts',
    about: 'A webhook told when a scheduled date is held, fails or is late ([scheduling.md](scheduling.md#alerts)).',
    settings: alertsSettings,
  },
  {
    title: 'Embedded PostgreSQL',
    section: 'embedded',
    about: 'The PostgreSQL started for you when databaseUrl is unset.',
    settings: embeddedSettings,
  },
];
