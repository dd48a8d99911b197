// `serve.processes` > 1: node:cluster workers, each a whole `serve` (its own pool, LISTEN connection and
// generations in memory), sharing one port. One Node process answers lookups on one core (~35 us of CPU
// each, bench/README-lookup.md); a second process is what lets the API use the second core.
// - The primary forks the workers, forwards SIGTERM/SIGINT and waits for them; a worker that dies is
//   replaced, unless they keep dying (then everything stops, exit 1).
// - With no DATABASE_URL the primary starts the embedded PostgreSQL once and hands its URL to the workers.
// - /metrics, answered by whichever worker took the connection, is the sum over the workers
//   (prom-client's AggregatorRegistry), except gauges of shared state (a job's ledger figures, the run
//   served, degraded), which are the same in every worker and are taken once (max), not added up.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../../config/load-config.ts';
import { type Db, openDb } from '../../db/connect.ts';
import { ExitCode } from '../../errors.ts';
import type { Logger } from '../../log.ts';

const ASK = 'batchcast:metrics-ask';
const JSON_REQ = 'batchcast:metrics-json';
const JSON_RES = 'batchcast:metrics-json-res';
const TEXT_RES = 'batchcast:metrics-text';
const SHARED_GAUGE = /^batchcast_(job_|served_|serve_degraded$|score_model_mismatch$)/;
/** Deaths within a minute past which the primary gives up instead of forking again. */
const MAX_DEATHS_PER_MINUTE = 5;

/** One metric as getMetricsAsJSON gives it: the fields used here. */
interface MetricJson {
  name: string;
  type: string;
  aggregator?: string;
}
interface Message {
  type?: string;
  id?: number;
  text?: string;
  metrics?: MetricJson[];
  error?: string;
}

export const isClusterWorker = () => cluster.isWorker;

/** Runs the primary until `until` resolves, then stops the workers and waits for them. Exit code: 0 or 1. */
export async function runPrimary(o: { config: Config; log: Logger; until: Promise<unknown> }): Promise<number> {
  const { config, log } = o;
  const n = config.serve.processes;
  let db: Db | undefined;
  const env: Record<string, string> = { BATCHCAST_SERVE_RATE_LIMIT: String(Math.ceil(config.serve.rateLimitPerSecond / n)) };
  if (!config.databaseUrl) {
    db = await openDb(config, { poolSize: 1, applicationName: 'batchcast serve (primary)', log: (m) => log.info(m) });
    env.DATABASE_URL = db.url;
  }
  let stopping = false;
  let failed = false;
  const deaths: number[] = [];
  const fork = () => wire(cluster.fork(env));
  const wire = (w: Worker) => {
    w.on('message', (m: Message) => void onMessage(w, m));
    w.on('exit', (code, signal) => {
      if (stopping) return;
      // Bad input (exit 2: a refused bind, a bad setting) is the same in the next worker: stop at once.
      if (code === ExitCode.badInput) {
        log.error(`serve worker ${w.process.pid} refused to start (exit 2); stopping`);
        failed = true;
        stop();
        return;
      }
      deaths.push(Date.now());
      while (deaths[0] < Date.now() - 60_000) deaths.shift();
      if (deaths.length > MAX_DEATHS_PER_MINUTE) {
        log.error(`serve worker ${w.process.pid} exited (${signal ?? code}); ${deaths.length} deaths within a minute: stopping`);
        failed = true;
        stop();
        return;
      }
      log.error(`serve worker ${w.process.pid} exited (${signal ?? code}); starting another`);
      fork();
    });
    return w;
  };
  let release: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    release = r;
  });
  const stop = () => {
    stopping = true;
    release();
  };
  for (let i = 0; i < n; i++) fork();
  log.info(`serve: ${n} processes on one port`);
  await Promise.race([o.until, stopped]);
  stopping = true;
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
  const codes = await Promise.all(
    workers.map(
      (w) =>
        new Promise<number>((resolve) => {
          if (w.isDead()) return resolve(w.process.exitCode ?? 0);
          w.once('exit', (code) => resolve(code ?? 0));
          w.process.kill('SIGTERM');
        }),
    ),
  );
  await db?.close();
  return failed || codes.some((c) => c !== 0) ? 1 : 0;
}

let seq = 0;
const pending = new Map<number, { resolve: (m: Message) => void; left: number; got: MetricJson[][] }>();

/** Primary: one worker asked for /metrics; gather every worker's metrics and answer it with the aggregate. */
async function onMessage(from: Worker, m: Message): Promise<void> {
  if (m.type === JSON_RES) {
    const p = pending.get(m.id!);
    if (!p) return;
    if (m.metrics) p.got.push(m.metrics);
    if (--p.left === 0) p.resolve(m);
    return;
  }
  if (m.type !== ASK) return;
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
  const id = ++seq;
  const got: MetricJson[][] = [];
  await new Promise<unknown>((resolve) => {
    pending.set(id, { resolve, left: workers.length, got });
    for (const w of workers) w.send({ type: JSON_REQ, id });
    setTimeout(resolve, 3_000).unref(); // a worker that does not answer (stopping) is left out
  });
  pending.delete(id);
  for (const metrics of got) {
    for (const x of metrics) if (x.type === 'gauge' && SHARED_GAUGE.test(x.name)) x.aggregator = 'max';
  }
  try {
    const text = await AggregatorRegistry.aggregate(got).metrics();
    if (from.isConnected()) from.send({ type: TEXT_RES, id: m.id, text });
  } catch (err) {
    if (from.isConnected()) from.send({ type: TEXT_RES, id: m.id, error: (err as Error).message });
  }
}

/**
 * Worker: answer the primary's requests for this process's metrics, and return the function /metrics uses:
 * the aggregate over all workers, through the primary.
 */
export function workerMetrics(registry: Registry): () => Promise<string> {
  const asks = new Map<number, (m: Message) => void>();
  let ids = 0;
  process.on('message', (m: Message) => {
    if (m?.type === JSON_REQ) {
      void registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: JSON_RES, id: m.id, metrics }),
        (err) => process.send?.({ type: JSON_RES, id: m.id, error: String(err) }),
      );
    } else if (m?.type === TEXT_RES) {
      asks.get(m.id!)?.(m);
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = ++ids;
      const timer = setTimeout(() => {
        asks.delete(id);
        reject(new Error('the serve primary did not answer for /metrics within 5 s'));
      }, 5_000);
      asks.set(id, (m) => {
        clearTimeout(timer);
        asks.delete(id);
        if (m.error !== undefined || m.text === undefined) reject(new Error(`metrics of the serve workers: ${m.error}`));
        else resolve(m.text);
      });
      process.send!({ type: ASK, id });
    });
}
