// One date as a child process: `batchcast predict --job J --date D --json`. A crash, an out-of-memory kill
// or a native abort in ONNX Runtime ends that process, never the scheduler or backfill that started it.
// The child's JSON log lines are relayed through our logger; its stdout carries the result as one JSON line.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/load-config.ts';
import { ExitCode } from '../errors.ts';
import type { Fields, Logger } from '../log.ts';
import type { PredictResult } from '../run/predict.ts';
import type { DateOutcome } from './date-outcome.ts';

const bin = fileURLToPath(new URL('../../bin/batchcast.js', import.meta.url));

export interface SpawnRunOptions {
  job: string;
  date: string;
  config: Config;
  /** the database the parent uses (also when it is the embedded one) */
  dbUrl: string;
  log: Logger;
  /** aborting sends SIGTERM (the run stops cleanly, marked failed), then SIGKILL after schedule.killAfterMs */
  signal?: AbortSignal;
}

export interface SpawnedRun extends DateOutcome {
  result?: PredictResult;
}

/** The child sees the parent's configuration: same root, jobs, database and inference settings. */
function childEnv(o: SpawnRunOptions): NodeJS.ProcessEnv {
  const c = o.config;
  return {
    ...process.env,
    BATCHCAST_ROOT: c.root,
    BATCHCAST_JOBS_DIR: c.jobsDir,
    DATABASE_URL: o.dbUrl, // in the environment, not argv: ps shows argv to every user
    BATCHCAST_WORKERS: String(c.workers),
    BATCHCAST_THREADS: String(c.intraOpThreads),
    BATCHCAST_COPY_CONNECTIONS: String(c.copyConnections),
    ...(c.metrics.pushgatewayUrl ? { BATCHCAST_PUSHGATEWAY_URL: c.metrics.pushgatewayUrl } : {}),
  };
}

interface Seen {
  runId?: number;
  error?: string;
  loggedError?: boolean;
}

const levelName = (n: number): 'debug' | 'info' | 'warn' | 'error' => (n >= 50 ? 'error' : n >= 40 ? 'warn' : n >= 30 ? 'info' : 'debug');

/** Re-logs one child stderr line; remembers the run id and the one-line error `main()` prints. */
function relayLine(log: Logger, line: string, seen: Seen): void {
  if (!line.trim()) return;
  if (line.startsWith('batchcast: ')) {
    seen.error = line.slice('batchcast: '.length);
    return;
  }
  let rec: Record<string, unknown> | undefined;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    rec = undefined;
  }
  if (!rec || typeof rec !== 'object' || typeof rec.msg !== 'string') {
    log.warn(line, { from: 'run' });
    return;
  }
  const { level, msg, time: _time, pid, hostname: _host, job: _job, date: _date, ...fields } = rec;
  if (typeof fields.runId === 'number') seen.runId = fields.runId;
  const name = levelName(Number(level));
  if (name === 'error') seen.loggedError = true;
  log[name](msg as string, { ...(fields as Fields), runPid: pid });
}

export function spawnRun(o: SpawnRunOptions): Promise<SpawnedRun> {
  const t0 = performance.now();
  const log = o.log.child({ job: o.job, date: o.date });
  const base = { job: o.job, date: o.date };
  if (o.signal?.aborted)
    return Promise.resolve({ ...base, status: 'interrupted', exitCode: ExitCode.failed, note: 'not started: interrupted' });

  return new Promise<SpawnedRun>((resolve) => {
    const args = [bin, 'predict', '--job', o.job, '--date', o.date, '--json', '--log-level', o.config.logLevel];
    // detached: its own process group, so a Ctrl-C in the terminal reaches only us, and we decide (grace period).
    const child = spawn(process.execPath, args, { env: childEnv(o), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const seen: Seen = {};
    let lastStdout = '';
    let spawnError: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.trim()) lastStdout = l;
    });
    createInterface({ input: child.stderr }).on('line', (l) => relayLine(log, l, seen));

    const onAbort = () => {
      log.warn(`stopping the run of ${o.job} ${o.date} (SIGTERM); it will be marked failed and publish nothing`, { runPid: child.pid });
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        log.warn(`run of ${o.job} ${o.date} did not stop within ${o.config.schedule.killAfterMs} ms; killing it`, { runPid: child.pid });
        child.kill('SIGKILL');
      }, o.config.schedule.killAfterMs);
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      o.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      const seconds = (performance.now() - t0) / 1000;
      if (spawnError) {
        resolve({
          ...base,
          status: 'failed',
          exitCode: ExitCode.infra,
          seconds,
          note: `could not start ${process.execPath} ${bin}: ${spawnError.message}`,
        });
        return;
      }
      if (code === ExitCode.ok) {
        let result: PredictResult | undefined;
        try {
          result = JSON.parse(lastStdout) as PredictResult;
        } catch {
          log.warn(`the run exited 0 but printed no JSON result (${JSON.stringify(lastStdout.slice(0, 200))})`);
        }
        resolve({ ...base, status: 'succeeded', exitCode: 0, runId: result?.runId ?? seen.runId, rows: result?.rows, seconds, result });
        return;
      }
      const note = seen.error ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
      const exitCode = code ?? ExitCode.failed;
      const status = code === ExitCode.lockBusy ? 'busy' : code === ExitCode.held ? 'held' : o.signal?.aborted ? 'interrupted' : 'failed';
      // Failures before the run starts (bad job file, lock busy, database down) reach only the one-line error.
      if (status === 'busy' || status === 'held') log.warn(note, { exitCode });
      else if (!seen.loggedError) log.error(`run of ${o.job} ${o.date} failed: ${note}`, { exitCode });
      resolve({ ...base, status, exitCode, runId: seen.runId, seconds, note });
    });
  });
}
