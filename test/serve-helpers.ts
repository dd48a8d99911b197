// Shared by the serve-*.test.ts files: a real published generation (fixture + predict), a real server on
// an ephemeral port, and HTTP clients that send exactly the bytes given (fetch would normalise paths).
import http from 'node:http';
import net from 'node:net';
import type pg from 'pg';
import { type ConfigOverrides, loadConfig } from '../src/config/load-config.ts';
import { createPool } from '../src/db/connect.ts';
import type { Logger } from '../src/log.ts';
import { predict } from '../src/run/predict.ts';
import { type LookupServer, startServer } from '../src/serve/http/server.ts';
import { type Fixture, type FixtureOptions, makeFixture } from './fixtures.ts';
import { log, type TestDb } from './helpers.ts';

export interface Published {
  fx: Fixture;
  date: string;
  runId: number;
}

/** A small real job (Parquet, ONNX, items) run by predict and published. */
export async function publishFixture(t: TestDb, o: Partial<FixtureOptions> & { name: string }): Promise<Published> {
  const date = o.dates?.[0] ?? '2026-11-20';
  const fx = await makeFixture({
    idType: 'string',
    output: 'top_k',
    featureMode: 'columns',
    users: 200,
    items: 60,
    k: 5,
    dates: [date],
    ...o,
  });
  const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
  const result = await predict({ job: fx.job, date, config, db: t.db, log });
  return { fx, date, runId: result.runId };
}

export interface TestServer extends LookupServer {
  pool: pg.Pool;
  stop(): Promise<void>;
}

/** The API on 127.0.0.1:<free port> over its own pool to `url`, serving the jobs under `root`. */
export async function startTestServer(
  url: string,
  root: string,
  serve: ConfigOverrides['serve'] = {},
  logger: Logger = log,
  auth: ConfigOverrides['auth'] = {},
): Promise<TestServer> {
  const config = loadConfig({ databaseUrl: url, root, serve: { port: 0, ...serve }, auth }, {});
  const pool = createPool(url, config, {
    max: config.serve.poolSize,
    statementTimeoutMs: config.serve.statementTimeoutMs,
    applicationName: 'batchcast serve test',
  });
  let server: LookupServer;
  try {
    server = await startServer({ pool, connections: Math.max(1, config.serve.poolSize - 1), config, log: logger });
  } catch (err) {
    await pool.end();
    throw err;
  }
  return {
    ...server,
    pool,
    async stop() {
      try {
        await server.close();
      } finally {
        await pool.end();
      }
    },
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** GET (or another method without a body) with a raw request target (sent as given, no normalisation). */
export function get(base: string, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: target, method, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = body ? JSON.parse(body) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: parsed });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes as one HTTP/1.1 request on a fresh socket and returns the status code of the answer. */
export function rawStatus(port: number, request: Buffer | string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`no answer within 5 s to ${JSON.stringify(String(request).slice(0, 120))}`));
    });
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (m) {
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (!/^HTTP/.test(data)) reject(new Error(`connection closed without an answer to ${JSON.stringify(String(request).slice(0, 120))}`));
    });
    socket.write(request);
  });
}

export function closeAgent(): void {
  agent.destroy();
}

/** POST a body (string sent as is) and parse the JSON answer. */
export function post(base: string, target: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A logger that keeps every line, for tests that check what was logged. */
export function recordingLogger(
  lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [],
): Logger & { lines: typeof lines } {
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields });
  };
  const logger: Logger & { lines: typeof lines } = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}
