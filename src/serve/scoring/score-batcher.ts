// Dynamic batching for online scoring, as Triton's dynamic batcher does it: requests that arrive within
// `maxDelayMs` of the first one waiting (or until `maxBatch` are waiting) go to the worker pool as one
// chunk, so one session.run scores them all. ORT's cost per call is mostly fixed at these sizes (demo
// model: ~60 µs for 1 row, ~110 µs for 32), so under load batching multiplies the throughput, and an idle
// server adds at most maxDelayMs to a request. The model runs in worker threads: the event loop never blocks.
import type { InferPool } from '../../infer/infer-pool.ts';
import type { BadRow } from '../../infer/messages.ts';
import { OverloadedError } from '../overloaded-error.ts';

/** One user's top K, or why their row was not scored (the bad-row rules of a run). */
export type Scored = { ok: true; values: Float32Array; indices: Int32Array } | { ok: false; bad: BadRow };

interface Waiter {
  userId: string;
  features: Float32Array;
  resolve(s: Scored): void;
  reject(err: unknown): void;
}

export interface ScoreBatcherOptions {
  /** Feature values per user. */
  size: number;
  k: number;
  /** Users per chunk sent to a worker (the worker still runs the model job.batch_size rows at a time). */
  maxBatch: number;
  /** Longest a request waits for others to join its batch. */
  maxDelayMs: number;
  /** Chunks at the workers at once: one per worker keeps each busy while the next batch forms. */
  inFlight: number;
  /** Requests allowed to wait; past it new requests are refused (503) instead of queueing without end. */
  maxQueued: number;
  onBatch?: (users: number) => void;
}

export class ScoreBatcher {
  private waiting: Waiter[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: InferPool,
    private readonly opts: ScoreBatcherOptions,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  score(userId: string, features: Float32Array): Promise<Scored> {
    if (this.waiting.length >= this.opts.maxQueued) {
      return Promise.reject(new OverloadedError(`${this.waiting.length} scoring requests already waiting for the model`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ userId, features, resolve, reject });
      if (this.waiting.length >= this.opts.maxBatch) this.flush();
      else
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, this.opts.maxDelayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.opts.inFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        // What queued while the workers were busy goes at once: it has already waited.
        if (this.waiting.length > 0) this.flush();
      });
    }
  }

  private async run(batch: Waiter[]): Promise<void> {
    const { size, k } = this.opts;
    const features = new Float32Array(batch.length * size);
    batch.forEach((w, i) => features.set(w.features, i * size));
    try {
      const ranked = await this.pool.rank(
        batch.map((w) => w.userId),
        features,
        batch.length,
      );
      this.opts.onBatch?.(batch.length);
      const badByRow = new Map(ranked.bad.map((b) => [b.row, b]));
      let n = 0;
      for (let row = 0; row < batch.length; row++) {
        const bad = badByRow.get(row);
        if (bad) {
          batch[row].resolve({ ok: false, bad });
          continue;
        }
        if ((ranked.keep ? ranked.keep[n] : n) !== row) throw new Error(`inference worker returned rows out of order (row ${row})`);
        batch[row].resolve({ ok: true, values: ranked.values.slice(n * k, n * k + k), indices: ranked.indices.slice(n * k, n * k + k) });
        n++;
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
