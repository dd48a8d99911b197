// The lookup API over plain node:http: limits, request ids, metrics and graceful shutdown around the
// routes (router.ts) and their handlers (the rooms of src/serve/).
// fastify around the same handler measured the same (47-52 against 49-53 µs of server CPU per lookup,
// bench/README-lookup.md), so the five fixed routes stay on node:http: raw paths reach our own decoding
// and validation untouched, and nothing sits between the socket and the handler that we do not test.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Config } from '../../config/load-config.ts';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { streamExport } from '../export/stream-export.ts';
import { ServedGenerations } from '../generations/served-generations.ts';
import { JobCatalogue } from '../job-catalogue.ts';
import { answerLookup } from '../lookups/answer-lookup.ts';
import { ItemAttributes } from '../lookups/item-attributes.ts';
import { LookupBatcher } from '../lookups/lookup-batcher.ts';
import { answerScore } from '../scoring/answer-score.ts';
import { OnlineScoring } from '../scoring/online-scoring.ts';
import { Cors } from './cors.ts';
import { freshWithin } from './fresh-within.ts';
import { openApiDocument } from './openapi.ts';
import { RateLimit } from './rate-limit.ts';
import { answerReady, refreshServed } from './readiness.ts';
import { failure, json, RETRY_AFTER_SECONDS, type Reply } from './replies.ts';
import { type Matched, matchRoute, type Route } from './router.ts';
import { SCOPE_OF, ServeAuth } from './serve-auth.ts';
import { serveJobMetrics } from './serve-job-metrics.ts';
import { ServeMetrics } from './serve-metrics.ts';
import { throttled } from './throttled.ts';

export interface ServerOptions {
  /** The lookup pool (read-only role when configured); the caller owns it and ends it after close(). */
  pool: pg.Pool;
  /** Connections the lookups may use at once: the pool's size less one kept for /readyz and /metrics. */
  connections: number;
  /** A new connection to the primary for LISTEN and the pointer (a standby refuses LISTEN); default: like the pool's. */
  connectPrimary?: () => Promise<pg.Client>;
  config: Pick<Config, 'jobsDir' | 'root' | 'serve' | 'auth'>;
  log: Logger;
  /** One log line per request (debug): ~200 bytes each, 4 MB/s at 20k lookups/s, so off by default. */
  logRequests?: boolean;
}

export interface LookupServer {
  url: string;
  port: number;
  metrics: ServeMetrics;
  catalogue: JobCatalogue;
  /** Memory-first lookups, the pointers and the LISTEN link (served-generations.ts). */
  served: ServedGenerations;
  /** Who may call (API keys, JWTs), re-read every auth.keysRefreshMs. */
  auth: ServeAuth;
  /** Stops accepting, lets requests in flight finish (up to serve.shutdownTimeoutMs), then resolves. */
  close(): Promise<void>;
}

/** Longest request target accepted: a 256-character user id percent-encoded as UTF-8 fits with room. */
const MAX_URL_BYTES = 4096;
/** Requests and headers larger than this are refused by node itself (431). */
const MAX_HEADER_BYTES = 8192;
const JSON_TYPE = 'application/json; charset=utf-8';

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Probes and scrapes are answered from state at most this old (fresh-within.ts). */
const PROBE_FRESH_MS = 1_000;

export async function startServer(opts: ServerOptions): Promise<LookupServer> {
  const { pool, log } = opts;
  const serve = opts.config.serve;
  const timeoutMs = serve.statementTimeoutMs + 1000;
  // First: an unsafe bind refuses to start before anything else is opened.
  const auth = await ServeAuth.start({ pool, timeoutMs, log, host: serve.host, auth: opts.config.auth, processes: serve.processes });
  const cors = new Cors(serve.corsOrigins);
  const catalogue = new JobCatalogue(opts.config.jobsDir, opts.config.root, log).watch();
  let batcher: LookupBatcher | undefined;
  const metrics = new ServeMetrics(() => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    inFlight: batcher?.stats.inFlight ?? 0,
    queued: batcher?.stats.queued ?? 0,
  }));
  serveJobMetrics(metrics, { pool, timeoutMs, log, freshMs: PROBE_FRESH_MS });
  batcher = new LookupBatcher(pool, {
    connections: Math.max(1, opts.connections),
    maxBatch: 64,
    maxQueued: 10_000,
    timeoutMs,
    onBatch: (size) => metrics.observeBatch(size),
  });
  const served = new ServedGenerations({
    pool,
    connectPrimary: opts.connectPrimary,
    database: batcher,
    catalogue,
    metrics,
    log,
    timeoutMs,
    ...serve,
  });
  const limit = new RateLimit(serve.rateLimitPerSecond);
  const openapi = JSON.stringify(openApiDocument(version));
  const scoring = new OnlineScoring({
    pool,
    timeoutMs,
    log,
    registry: metrics.registry,
    workers: serve.scoreWorkers,
    maxQueued: serve.scoreMaxQueued,
  });
  const scoreDeps = { catalogue, scoring, limit: new RateLimit(serve.rateLimitPerSecond), rateLimitPerSecond: serve.rateLimitPerSecond };
  const exportDeps = { pool, catalogue, enabled: serve.exports, idleTimeoutMs: serve.exportIdleTimeoutMs, log, running: { count: 0 } };
  const attributes = new ItemAttributes(log);
  attributes.warm(catalogue.names().map((n) => catalogue.get(n)!));
  const lookupDeps = { lookups: served, catalogue, metrics, attributes, cacheMaxAgeSeconds: serve.cacheMaxAgeSeconds };
  const readyDeps = { pool, catalogue, metrics, timeoutMs, served, published: (): ReturnType<typeof refreshServed> => published() };
  const published = freshWithin(PROBE_FRESH_MS, () => refreshServed(readyDeps));
  const warn = throttled(log);
  const idPrefix = `${randomBytes(3).toString('hex')}-`;
  let seq = 0;
  let stopping = false;

  function send(
    res: http.ServerResponse,
    route: Route,
    method: string,
    t0: number,
    requestId: string,
    reply: Reply | null,
    type = JSON_TYPE,
  ): void {
    if (reply === null) {
      // the handler streamed its own answer
      metrics.observe(route, method, res.statusCode, (performance.now() - t0) / 1000);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { 'x-request-id': requestId, ...reply.headers };
    if (reply.status !== 304 && reply.status !== 204) {
      headers['content-type'] = type;
      headers['content-length'] = Buffer.byteLength(reply.body);
    }
    if (stopping) headers.connection = 'close';
    res.writeHead(reply.status, headers);
    res.end(reply.status === 304 || reply.status === 204 ? undefined : reply.body);
    const ms = performance.now() - t0;
    metrics.observe(route, method, reply.status, ms / 1000);
    if (reply.status >= 500) {
      warn(`${method} ${route} answered ${reply.status}`, {
        requestId,
        status: reply.status,
        error: reply.cause === undefined ? undefined : describeError(reply.cause),
      });
    }
    if (opts.logRequests)
      log.debug('request', { requestId, method, url: res.req.url?.slice(0, 300), status: reply.status, ms: Math.round(ms * 100) / 100 });
  }

  function lookup(
    req: http.IncomingMessage,
    at: { jobRaw: string; userRaw: string },
    query: string,
    requestId: string,
  ): Reply | Promise<Reply> {
    if (!limit.take()) {
      return json(
        429,
        { error: 'rate_limited', message: `over ${serve.rateLimitPerSecond} lookups per second; retry in ${RETRY_AFTER_SECONDS} s` },
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
    return answerLookup(
      { jobRaw: at.jobRaw, userRaw: at.userRaw, query, ifNoneMatch: req.headers['if-none-match'], requestId },
      lookupDeps,
    );
  }

  /** The answer of a GET route (every route but score and export, which take or stream a body). */
  function answerGet(m: Matched, req: http.IncomingMessage, path: string, query: string, requestId: string): Reply | Promise<Reply> {
    switch (m.route) {
      case 'lookup':
        return lookup(req, m, query, requestId);
      case 'healthz':
        return json(200, { status: stopping ? 'stopping' : 'ok' });
      case 'readyz':
        return stopping ? json(503, { status: 'stopping' }) : answerReady(query, readyDeps);
      case 'openapi':
        return { status: 200, body: openapi };
      case 'metrics':
        return (async () => {
          await published().catch(() => {}); // metrics must render while the database is down
          return { status: 200, body: await metrics.render() };
        })();
      default:
        return json(404, { error: 'not_found', message: `no such endpoint: ${path.slice(0, 100)}; see /openapi.json` });
    }
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const t0 = performance.now();
    const method = req.method ?? 'GET';
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : `${idPrefix}${(++seq).toString(36)}`;
    const url = req.url ?? '/';
    if (url.length > MAX_URL_BYTES) {
      return send(
        res,
        'other',
        method,
        t0,
        requestId,
        json(414, { error: 'uri_too_long', message: `request target longer than ${MAX_URL_BYTES} bytes` }),
      );
    }
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const m = matchRoute(path);
    const corsHeaders = cors.headers(req.headers.origin);
    if (corsHeaders) for (const [name, value] of Object.entries(corsHeaders)) res.setHeader(name, value);
    const preflight = method === 'OPTIONS' ? cors.preflight(req) : undefined;
    if (preflight) return send(res, m.route, method, t0, requestId, preflight);
    if (m.route === 'healthz') return dispatch(req, res, m, { method, t0, requestId, path, query });
    const denied = auth.check(req.headers.authorization, SCOPE_OF[m.route], req.socket, req.headers.host);
    if (denied instanceof Promise) {
      denied.then(
        (d) => (d ? refuse(req, res, m.route, d, method, t0, requestId) : dispatch(req, res, m, { method, t0, requestId, path, query })),
        (err) => send(res, m.route, method, t0, requestId, failure(err, requestId)),
      );
      return;
    }
    if (denied) return refuse(req, res, m.route, denied, method, t0, requestId);
    dispatch(req, res, m, { method, t0, requestId, path, query });
  }

  /** A 401, 403 or 429 before the handler: a body the request carries is left unread, so the connection closes. */
  function refuse(req: http.IncomingMessage, res: http.ServerResponse, route: Route, reply: Reply, method: string, t0: number, id: string) {
    const body = (req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined;
    send(res, route, method, t0, id, body ? { ...reply, headers: { ...reply.headers, connection: 'close' } } : reply);
  }

  function dispatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    m: Matched,
    at: { method: string; t0: number; requestId: string; path: string; query: string },
  ): void {
    const { method, t0, requestId, path, query } = at;
    // Scoring takes a body and exports stream: both answer for themselves (answer-score.ts, stream-export.ts).
    if (m.route === 'score' || m.route === 'export') {
      const route = m.route;
      const answer =
        m.route === 'export' ? streamExport(req, res, m, requestId, exportDeps) : answerScore(req, m.jobRaw, query, requestId, scoreDeps);
      answer.then(
        (rep) => send(res, route, method, t0, requestId, rep),
        (err) => send(res, route, method, t0, requestId, res.headersSent ? null : failure(err, requestId)),
      );
      return;
    }
    const r: Route = m.route;
    // GET needs no body: one is the request size limit, refused with the connection closed (no unread body left on it).
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      return send(
        res,
        'other',
        method,
        t0,
        requestId,
        json(413, { error: 'body_not_allowed', message: 'this API takes no request body' }, { connection: 'close' }),
      );
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return send(
        res,
        r,
        method,
        t0,
        requestId,
        json(405, { error: 'method_not_allowed', message: `${method.slice(0, 16)} is not allowed; use GET` }, { allow: 'GET, HEAD' }),
      );
    }
    let reply: Reply | Promise<Reply>;
    try {
      reply = answerGet(m, req, path, query, requestId);
    } catch (err) {
      reply = failure(err, requestId);
    }
    if (reply instanceof Promise) {
      reply.then(
        (rep) => send(res, r, method, t0, requestId, rep, r === 'metrics' ? metrics.contentType : JSON_TYPE),
        (err) => send(res, r, method, t0, requestId, failure(err, requestId)),
      );
    } else {
      send(res, r, method, t0, requestId, reply);
    }
  }

  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      // Slow clients cannot hold sockets open: whole request within 10 s, headers within 5 s.
      requestTimeout: 10_000,
      headersTimeout: 5_000,
      keepAliveTimeout: 5_000,
      noDelay: true,
    },
    handle,
  );

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new Error(`cannot listen on ${serve.host}:${serve.port}: ${err.message}; choose another --port or --host`, { cause: err }));
    server.once('error', onError);
    server.listen(serve.port, serve.host, () => {
      server.off('error', onError);
      resolve();
    });
  }).catch(async (err) => {
    catalogue.stop();
    auth.stop();
    await served.stop();
    throw err;
  });
  server.on('error', (err) => log.error(`HTTP server error: ${err.message}`));
  const port = (server.address() as AddressInfo).port;
  const host = serve.host.includes(':') ? `[${serve.host}]` : serve.host;

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Requests still running after the grace period are cut; their clients retry elsewhere.
    const force = setTimeout(() => {
      log.warn(`shutdown: connections still open after ${serve.shutdownTimeoutMs} ms; closing them`);
      server.closeAllConnections();
    }, serve.shutdownTimeoutMs);
    try {
      await closed;
    } finally {
      clearTimeout(force);
      catalogue.stop();
      auth.stop();
      await scoring.close();
      await served.stop();
    }
  }

  return {
    url: `http://${host}:${port}`,
    port,
    metrics,
    catalogue,
    served,
    auth,
    close: () => (closing ??= close()),
  };
}
