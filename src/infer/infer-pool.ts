// Step 2 of a run: a pool of worker threads, each with its own ONNX Runtime session.
//
// Why workers and not promises: session.run blocks the thread that calls it, so on the main thread it would
// stall the DuckDB reads and the COPY writes. With the model in workers, the main thread keeps reading
// and writing while the workers score.
// How many: measured on 2 cores (heavy model, 32 features, 10k items, batches of 256), 1M users end to end:
// 2 workers x 1 thread 86.7k users/s, 1 x 2 82.3k, 2 x 2 80.6k (oversubscribed). The defaults
// (config.workers x config.intraOpThreads) follow that; bench/README.md has the table.
import { Worker } from 'node:worker_threads';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import type { UserIds } from '../store/copy-binary.ts';
import type { BadRow, Ranked, RankRequest, ScoreRequest, WorkerInit, WorkerReply } from './messages.ts';

export interface Scored {
  /** encoded COPY tuples */
  buffer: Buffer;
  rows: number;
  bad: BadRow[];
  inferMs: number;
  encodeMs: number;
}

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
}

// Compiled (dist/*.js), the worker is plain JavaScript; from the TypeScript sources (tests, tsx), the .mjs
// entry registers tsx in the worker first, since worker threads do not inherit the parent's loader.
const workerFile = import.meta.url.endsWith('.js') ? './infer-worker.js' : './infer-worker-entry.mjs';

class WorkerHandle {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  private dead: Error | undefined;

  constructor(index: number, onDie: (err: Error) => void) {
    this.worker = new Worker(new URL(workerFile, import.meta.url), { name: `batchcast-infer-${index}` });
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      p.resolve(reply);
    });
    const die = (err: Error) => {
      this.dead = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onDie(err);
    };
    this.worker.on('error', (err) => die(new Error(`inference worker ${index} crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => die(new Error(`inference worker ${index} exited (code ${code})`)));
  }

  send(id: number, msg: object, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }
}

export interface PoolOptions {
  workers: number;
  intraOpThreads: number;
  itemIds: string[];
}

export class InferPool {
  private nextId = 0;
  /** the model's batch dimension when its exporter fixed it: it then runs that many rows per session.run */
  fixedBatch: number | undefined;
  private closing = false;
  private failure: Error | undefined;
  private readonly failureListeners: ((err: Error) => void)[] = [];

  private constructor(
    private readonly handles: WorkerHandle[],
    private readonly job: JobDefinition,
  ) {}

  /** Starts the workers and loads the model in each; a model that does not fit the job fails here, before any work. */
  static async start(job: JobDefinition, opts: PoolOptions): Promise<InferPool> {
    const died = (err: Error) => pool.workerDied(err);
    const handles = Array.from({ length: opts.workers }, (_, i) => new WorkerHandle(i, died));
    const pool = new InferPool(handles, job);
    const init: WorkerInit = {
      type: 'init',
      modelPath: job.model.path,
      inputs: job.model.inputs,
      output: job.model.output,
      k: job.k,
      batchSize: job.batchSize,
      intraOpThreads: opts.intraOpThreads,
      featureSize: job.features.size,
      featureNames: job.features.listColumn
        ? Array.from({ length: job.features.size }, (_, i) => `${job.features.listColumn}[${i + 1}]`)
        : job.features.columns,
      items: opts.itemIds.length,
    };
    try {
      const replies = await Promise.all(handles.map((h) => h.send(-1, init)));
      const bad = replies.find((r) => r.type === 'error');
      if (bad && bad.type === 'error') throw new BadInputError(`job ${job.name}: ${bad.message}`);
      const ready = replies[0];
      if (ready?.type === 'ready') pool.fixedBatch = ready.fixedBatch;
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Sends a chunk to the least busy worker. The chunk's feature buffer is transferred, not copied. */
  private async request(type: 'score' | 'rank', ids: UserIds, features: Float32Array, rows: number): Promise<WorkerReply> {
    const id = this.nextId++;
    const h = this.handles.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const msg: ScoreRequest | RankRequest = { type, id, ids, features, rows };
    const transfer = [features.buffer as ArrayBuffer];
    if (ids instanceof BigInt64Array) transfer.push(ids.buffer as ArrayBuffer);
    const reply = await h.send(id, msg, transfer);
    if (reply.type === 'error') throw new BadInputError(`job ${this.job.name}: ${reply.message}`);
    return reply;
  }

  /** Scores one chunk of a run into encoded COPY rows. */
  async score(ids: UserIds, features: Float32Array, rows: number): Promise<Scored> {
    const reply = await this.request('score', ids, features, rows);
    if (reply.type !== 'scored') throw new Error(`unexpected reply ${reply.type} from inference worker`);
    return {
      buffer: Buffer.from(reply.buffer.buffer, reply.buffer.byteOffset, reply.buffer.byteLength),
      rows: reply.rows,
      bad: reply.bad,
      inferMs: reply.inferMs,
      encodeMs: reply.encodeMs,
    };
  }

  /**
   * Ranks rows exactly as score() does (bad-row rules, batches, top K, index checks) but answers the top K
   * as arrays: online scoring. Bad rows come back in `bad`, not as an error, whatever the job's bad_rows.
   */
  async rank(ids: UserIds, features: Float32Array, rows: number): Promise<Ranked> {
    const reply = await this.request('rank', ids, features, rows);
    if (reply.type !== 'ranked') throw new Error(`unexpected reply ${reply.type} from inference worker`);
    const { type: _, id: __, ...ranked } = reply;
    return ranked;
  }

  /** How often each item was in someone's top K, summed over workers: the run's popular items. */
  async itemCounts(): Promise<Float64Array> {
    let total: Float64Array | undefined;
    for (const h of this.handles) {
      const id = this.nextId++;
      const reply = await h.send(id, { type: 'counts', id });
      if (reply.type !== 'counts') throw new Error('inference worker did not return item counts');
      if (!total) total = new Float64Array(reply.itemCounts.length);
      reply.itemCounts.forEach((c, i) => {
        total![i] += c;
      });
    }
    return total ?? new Float64Array(0);
  }

  /**
   * Calls `fn` once, when a worker crashes or exits while the pool is open (out of memory in ONNX Runtime, a
   * native fault). A run fails on its own, by the rejected chunk; a long-lived owner (online scoring) uses
   * this to replace the pool instead of failing every request sent to the dead worker from then on.
   */
  whenFailed(fn: (err: Error) => void): void {
    if (this.failure) fn(this.failure);
    else this.failureListeners.push(fn);
  }

  /** The worker threads, for whoever must watch or stop them (tests kill one to see the pool replaced). */
  get threads(): readonly Worker[] {
    return this.handles.map((h) => h.worker);
  }

  private workerDied(err: Error): void {
    if (this.closing || this.failure) return;
    this.failure = err;
    for (const fn of this.failureListeners.splice(0)) fn(err);
  }

  /** Asks each worker to release its session and exit; terminates the ones that do not within 5 s. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.handles.map(async (h) => {
        const exited = new Promise<void>((resolve) => h.worker.once('exit', () => resolve()));
        const id = this.nextId++;
        h.send(id, { type: 'close', id }).catch(() => {});
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), 5_000);
        });
        if ((await Promise.race([exited, late])) === 'late') await h.worker.terminate().catch(() => 0);
        clearTimeout(timer);
      }),
    );
  }
}
