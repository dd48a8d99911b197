// Online scoring for users the batch never saw, on the same code path as a run: the job's model file in
// an InferPool worker (the same checks, bad-row rules and top K), and the item ids from read-items.ts.
// One scorer per job, started on the job's first scoring request and replaced when its job file changes.
// The scorer also checks that its model is the one behind the job's published generation (same sha256):
// online answers only agree with the batch when it is, so a mismatch is logged and shown in /metrics.
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import client from 'prom-client';
import { describeError } from '../../errors.ts';
import { checkExamples, ExamplesMismatchError } from '../../infer/check-examples.ts';
import { InferPool } from '../../infer/infer-pool.ts';
import { type ModelInfo, modelInfo } from '../../infer/model-info.ts';
import type { JobDefinition } from '../../jobs/load-job.ts';
import type { Logger } from '../../log.ts';
import { withDuckDB } from '../../read/duckdb.ts';
import { readItems } from '../../read/read-items.ts';
import { latestPublished } from '../../store/pointer.ts';
import { withDeadline } from '../with-deadline.ts';
import { ScoreBatcher } from './score-batcher.ts';

/** The job's latest published generation, as far as the scorer knows (null: none, or not known yet). */
export interface PublishedModel {
  runId: number;
  predictionDate: string;
  modelSha256: string | null;
}

export interface JobScorer {
  job: JobDefinition;
  model: ModelInfo;
  itemIds: string[];
  batcher: ScoreBatcher;
  /** Published generation of the job, refreshed in the background (see OnlineScoring.published). */
  published: PublishedModel | null;
  /** the inference workers; one that dies gets the whole scorer replaced (see start) */
  pool: InferPool;
}

export interface ScoringOptions {
  pool: pg.Pool;
  timeoutMs: number;
  log: Logger;
  registry: client.Registry;
  /** Worker threads per job (each one ORT session with one intra-op thread). */
  workers: number;
  maxQueued: number;
}

/** Requests join a batch for at most this long: ~2 ms p50 added at most, below the 10 ms p99 target. */
const MAX_DELAY_MS = 1;
/** Users per chunk: 64 one-user requests arrive within ~30 ms at 2k/s, so larger batches never form. */
const MAX_BATCH = 64;
/** The published generation is re-read at most this often per job (a query on a scoring request). */
const PUBLISHED_MAX_AGE_MS = 5_000;
/** A job whose examples the model does not reproduce is checked again after this long (or when its file changes). */
const EXAMPLES_RETRY_MS = 30_000;

interface Entry {
  key: string;
  scorer: Promise<JobScorer>;
  pool?: InferPool;
  checkedAt: number;
  checking: boolean;
  /** when the scorer failed the examples check (the failure is kept, not retried on every request) */
  failedAt?: number;
}

export class OnlineScoring {
  private readonly entries = new Map<string, Entry>();
  private readonly retired = new Set<Promise<unknown>>();
  private readonly keys = new WeakMap<JobDefinition, string>();
  private readonly mismatch: client.Gauge<'job'>;
  private readonly batchUsers: client.Histogram;

  constructor(private readonly opts: ScoringOptions) {
    const registers = [opts.registry];
    this.mismatch = new client.Gauge({
      name: 'batchcast_score_model_mismatch',
      labelNames: ['job'],
      registers,
      help: "1 when the model file online scoring loaded differs (sha256) from the model of the job's published generation",
    });
    this.batchUsers = new client.Histogram({
      name: 'batchcast_score_batch_users',
      help: 'Users scored by one session.run batch (dynamic batching)',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    const entries = this.entries;
    new client.Gauge({
      name: 'batchcast_score_queued',
      help: 'Scoring requests waiting to join the next batch',
      registers,
      async collect() {
        let n = 0;
        for (const e of entries.values())
          n += await e.scorer.then(
            (s) => s.batcher.queued,
            () => 0,
          );
        this.set(n);
      },
    });
  }

  /** The job's scorer, started if needed; a job file that changed gets a new one (the old one is closed). */
  scorer(job: JobDefinition): Promise<JobScorer> {
    // The catalogue re-reads job files every 10 s into new objects: compare contents, once per object.
    let key = this.keys.get(job);
    if (key === undefined) this.keys.set(job, (key = JSON.stringify(job)));
    let entry = this.entries.get(job.name);
    if (entry && (entry.key !== key || (entry.failedAt !== undefined && Date.now() - entry.failedAt > EXAMPLES_RETRY_MS))) {
      this.retire(entry);
      entry = undefined;
    }
    if (!entry) {
      const e: Entry = { key, scorer: undefined as unknown as Promise<JobScorer>, checkedAt: 0, checking: false };
      e.scorer = this.start(job, e);
      // A scorer that failed to start (bad model file) is retried on the next request, not cached;
      // one whose examples fail is kept for EXAMPLES_RETRY_MS (each check loads the model once more).
      e.scorer.catch((err) => {
        if (err instanceof ExamplesMismatchError) e.failedAt = Date.now();
        else if (this.entries.get(job.name) === e) this.entries.delete(job.name);
      });
      this.entries.set(job.name, e);
      entry = e;
    }
    const e = entry;
    if (!e.checking && Date.now() - e.checkedAt > PUBLISHED_MAX_AGE_MS) {
      e.checking = true;
      e.scorer
        .then((s) => this.checkPublished(s))
        .catch(() => {})
        .finally(() => {
          e.checking = false;
          e.checkedAt = Date.now();
        });
    }
    return e.scorer;
  }

  private async start(job: JobDefinition, entry: Entry): Promise<JobScorer> {
    const t0 = performance.now();
    const model = await modelInfo(job);
    // The job's order against the model's known answers, as predict does: a wrong order would answer 200 with wrong scores.
    await checkExamples(job).catch((err: unknown) => {
      if (err instanceof ExamplesMismatchError)
        this.opts.log.error(`online scoring for job ${job.name} refuses to start: ${err.message}`, { job: job.name });
      throw err;
    });
    const itemIds = await withDuckDB({ threads: 1, tempDirectory: path.join(os.tmpdir(), 'batchcast-duckdb') }, (conn) =>
      readItems(conn, job),
    );
    const pool = await InferPool.start(job, { workers: this.opts.workers, intraOpThreads: 1, itemIds });
    entry.pool = pool;
    // A dead worker fails every request sent to it: retire this scorer, and the next request starts a new one.
    pool.whenFailed((err) => {
      this.opts.log.error(`online scoring for job ${job.name}: ${err.message}; a new scorer starts with the next request`, {
        job: job.name,
      });
      if (this.entries.get(job.name) === entry) this.retire(entry);
    });
    const batcher = new ScoreBatcher(pool, {
      size: job.features.size,
      k: job.k,
      maxBatch: MAX_BATCH,
      maxDelayMs: MAX_DELAY_MS,
      // One chunk more than workers: the next batch waits at the worker instead of behind a message round trip
      // (in process, heavy model, 1 worker, 3 interleaved pairs on the busy box: 53k, 47k, 37k users/s against 36k, 35k, 53k).
      inFlight: this.opts.workers + 1,
      maxQueued: this.opts.maxQueued,
      onBatch: (n) => this.batchUsers.observe(n),
    });
    const scorer: JobScorer = { job, model, itemIds, batcher, published: null, pool };
    this.opts.log.info(
      `online scoring for job ${job.name} ready: model ${model.version} (sha256 ${model.sha256.slice(0, 12)}...), ${itemIds.length} items, ${this.opts.workers} worker(s), ${Math.round(performance.now() - t0)} ms`,
    );
    await this.checkPublished(scorer).catch(() => {});
    entry.checkedAt = Date.now();
    return scorer;
  }

  /** Reads the job's published generation and compares its model's sha256 with the loaded model's. */
  private async checkPublished(s: JobScorer): Promise<void> {
    let latest: Awaited<ReturnType<typeof latestPublished>>;
    try {
      latest = await withDeadline(this.opts.pool, this.opts.timeoutMs, `published generation of job ${s.job.name}`, (c) =>
        latestPublished(c, s.job.name),
      );
    } catch (err) {
      // Scoring needs no database: keep answering with what is known, say why the check was skipped.
      this.opts.log.debug(`cannot check the published model of job ${s.job.name}: ${describeError(err)}`);
      throw err;
    }
    const before = s.published;
    s.published = latest ? { runId: Number(latest.runId), predictionDate: latest.date, modelSha256: latest.modelSha256 } : null;
    const differs = !!s.published?.modelSha256 && s.published.modelSha256 !== s.model.sha256;
    this.mismatch.labels(s.job.name).set(differs ? 1 : 0);
    if (differs && before?.runId !== s.published!.runId) {
      this.opts.log.warn(
        `online scoring for job ${s.job.name} uses model file ${s.job.model.path} (sha256 ${s.model.sha256.slice(0, 12)}...), ` +
          `but the published generation (run ${s.published!.runId}, ${s.published!.predictionDate}) was made with sha256 ${s.published!.modelSha256!.slice(0, 12)}...; ` +
          'online answers will not match the batch: restore that model file or run predict with the new one',
        { job: s.job.name, runId: s.published!.runId },
      );
    }
  }

  /** A replaced scorer is closed after the requests it holds had time to finish (they wait at most ~1 ms + a batch). */
  private retire(entry: Entry): void {
    for (const [name, e] of this.entries) if (e === entry) this.entries.delete(name);
    const closing = entry.scorer
      .then(() => new Promise((r) => setTimeout(r, 2_000)))
      .then(
        () => entry.pool?.close(),
        () => {},
      );
    this.retired.add(closing);
    void closing.finally(() => this.retired.delete(closing));
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all([
      ...all.map((e) =>
        e.scorer.then(
          () => e.pool?.close(),
          () => e.pool?.close(),
        ),
      ),
      ...this.retired,
    ]);
  }
}
