// `batchcast db start|stop|status|url`: keeps the embedded PostgreSQL up between commands, so that psql,
// DBeaver or `batchcast sql` can reach it after `batchcast demo` has exited.
//
// `db start` spawns a detached holder process (`batchcast db hold`, in its own session, output to
// data/pg-server.log) that starts the server through startEmbedded, exactly as every other command
// would, and stops it on SIGTERM. The holder's pid is in <dataDir>.holder.pid; `db stop` signals it.
// Other commands find the running server through its postmaster.pid and use it without stopping it.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/load-config.ts';
import { BadInputError, InfraError } from '../errors.ts';
import { embeddedUrl, runningServer, startEmbedded } from './embedded.ts';

export interface EmbeddedStatus {
  running: boolean;
  dataDir: string;
  port?: number;
  /** the postmaster's pid */
  pid?: number;
  /** the `db start` holder's pid, when `db start` started it */
  holderPid?: number;
  url?: string;
  log: string;
}

const bin = fileURLToPath(new URL('../../bin/batchcast.js', import.meta.url));
const holderFile = (config: Config) => `${config.embedded.dataDir}.holder.pid`;
const logFile = (config: Config) => path.join(path.dirname(config.embedded.dataDir), 'pg-server.log');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function holderPid(config: Config): number | undefined {
  if (!existsSync(holderFile(config))) return undefined;
  const pid = Number(readFileSync(holderFile(config), 'utf8').trim());
  return pid && alive(pid) ? pid : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function embeddedStatus(config: Config): EmbeddedStatus {
  const server = runningServer(config.embedded.dataDir);
  const base = { dataDir: config.embedded.dataDir, log: logFile(config) };
  if (!server) return { running: false, ...base };
  return {
    running: true,
    ...base,
    port: server.port,
    pid: server.pid,
    holderPid: holderPid(config),
    url: embeddedUrl(config.embedded, server.port),
  };
}

/** Starts the embedded server in a detached holder and returns once it accepts connections. */
export async function startDetached(config: Config): Promise<EmbeddedStatus & { started: boolean }> {
  const now = embeddedStatus(config);
  if (now.running) return { ...now, started: false };
  mkdirSync(path.dirname(logFile(config)), { recursive: true }); // a new project has no data/ yet
  const out = openSync(logFile(config), 'a');
  const child = spawn(process.execPath, [bin, 'db', 'hold'], {
    cwd: config.root,
    detached: true, // its own session: it outlives this command and the terminal's Ctrl-C
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      BATCHCAST_ROOT: config.root,
      BATCHCAST_PG_DIR: config.embedded.dataDir,
      ...(config.embedded.port ? { BATCHCAST_PG_PORT: String(config.embedded.port) } : {}),
    },
  });
  closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  child.unref();
  const deadline = Date.now() + config.embedded.startTimeoutMs + 5_000;
  while (Date.now() < deadline) {
    await sleep(200);
    const s = embeddedStatus(config);
    if (s.running && s.holderPid) return { ...s, started: true };
    if (exited !== undefined) break;
  }
  const tail = existsSync(logFile(config)) ? readFileSync(logFile(config), 'utf8').trim().split('\n').slice(-3).join(' ') : '';
  throw new InfraError(
    `the embedded PostgreSQL did not start${exited !== undefined ? ` (holder exited with code ${exited})` : ''}: ${tail || 'no output'}; see ${logFile(config)}`,
  );
}

/** The holder (`db hold`): starts the server, records its pid, and stops the server on SIGTERM/SIGINT. */
export async function holdEmbedded(config: Config, log: (msg: string) => void): Promise<void> {
  const server = await startEmbedded(config.embedded, log);
  if (!server.owned) {
    log(`the embedded PostgreSQL is already running on port ${server.port}; nothing to hold`);
    return;
  }
  writeFileSync(holderFile(config), `${process.pid}\n`);
  try {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve());
      // If the server goes away by itself (killed, crashed), there is nothing left to hold.
      timer = setInterval(() => {
        if (!runningServer(config.embedded.dataDir)) resolve();
      }, 2_000);
    });
    clearInterval(timer);
    log('stopping the embedded PostgreSQL');
    await server.stop();
  } finally {
    rmSync(holderFile(config), { force: true });
  }
}

/** Stops the server that `db start` started; waits until it is down. */
export async function stopDetached(config: Config): Promise<{ stopped: boolean; status: EmbeddedStatus }> {
  const status = embeddedStatus(config);
  if (!status.running) return { stopped: false, status };
  if (!status.holderPid) {
    throw new BadInputError(
      `the embedded PostgreSQL on port ${status.port} (pid ${status.pid}) was started by another batchcast command that is still running (e.g. serve or schedule), not by \`db start\`; it stops when that command exits`,
    );
  }
  process.kill(status.holderPid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    await sleep(200);
    if (!runningServer(config.embedded.dataDir) && !alive(status.holderPid)) return { stopped: true, status };
  }
  throw new InfraError(`the embedded PostgreSQL (pid ${status.pid}) did not stop within 60 s; see ${logFile(config)}`);
}
