// Which generation each job's lookups are answered from, and from where: memory when the generation the
// pointer names is loaded, else PostgreSQL (the batcher), exactly as before.
// - The pointers (each job's latest published date and its run) come only from reading batchcast.published
//   on the primary: after every LISTEN (re)connect, after each notice, and at a slow poll (the backstop).
//   A notice is a hint to re-read, never trusted for its run or date: NOTIFY needs no privilege, so the
//   read-only lookup role could otherwise point every server at a held run. A notice for a job this server
//   does not serve is dropped without a trace (no map grows with forged job names).
// - Re-reads run one at a time, in order, so an older snapshot never overwrites a newer one.
// - Lookups and loads may read a replica (LOOKUP_DATABASE_URL). The re-read notes the primary's WAL
//   position, and new pointers take effect once the replica has replayed up to it (a load waits for it
//   too), so a lookup sent to the replica never reads its older pointer and a load never misses the run.
//   While the LISTEN link is down, the poll reads the pool's own pointers instead.
// - When the pointer moves, lookups go to PostgreSQL at once (so a rollback takes effect at commit), the
//   new run loads in the background, one at a time, and then one Map.set switches to it. A lookup reads
//   one MemoryGeneration object, so no answer mixes two generations.
// - During a database outage lookups keep being answered from memory (200, naming the run); a lookup
//   that had to go to the database falls back to the newest generation of that job and date still held,
//   but only when the LISTEN link is down or the lookup lost its connection (08xxx, no SQLSTATE): a slow
//   database (statement timeout, class 53, the client deadline) answers 503. That is the one case a run
//   the pointer no longer names may answer (docs/reliability.md).
// - Otherwise an older generation answers only while a load of exactly the pointer's run is in flight,
//   only for lookups without ?date=, and only from an earlier date (never a superseded run of the same date).
// - serve.memoryBudgetMb caps the bytes held; a generation that does not fit stays on PostgreSQL, said once.
// Only each job's latest date is held: that is what the API answers without ?date= (an older date asked
// for by ?date= is read from PostgreSQL).
import type pg from 'pg';
import client from 'prom-client';
import { connectLike } from '../../db/connect.ts';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { generationRows, readGenerationMeta } from '../../store/generation.ts';
import { type Pointers, readPointers, waitForReplay } from '../../store/pointer.ts';
import { isConnectionLoss } from '../http/replies.ts';
import type { ServeMetrics } from '../http/serve-metrics.ts';
import type { JobCatalogue } from '../job-catalogue.ts';
import type { Lookups, UserAnswer } from '../lookups/lookups.ts';
import { OverloadedError } from '../overloaded-error.ts';
import { withDeadline } from '../with-deadline.ts';
import { BadGenerationError, buildMemoryGeneration, type MemoryGeneration, OverBudgetError } from './memory-generation.ts';
import { type PublishEvent, PublishListener } from './publish-listener.ts';

/** Lookups waiting for PostgreSQL past which a loading job answers from its previous generation: a few batches' worth. */
const SHED_QUEUED = 8;

export interface ServedOptions {
  /** Lookups and loads: the read-only role, possibly on a replica. */
  pool: pg.Pool;
  /** A new connection to the primary, for LISTEN and the pointer re-reads; default: one like the pool's. */
  connectPrimary?: () => Promise<pg.Client>;
  database: Lookups;
  catalogue: JobCatalogue;
  metrics: ServeMetrics;
  log: Logger;
  memoryBudgetMb: number;
  pointerPollMs: number;
  heartbeatMs: number;
  /** Deadline of the poll's statement (serve.statementTimeoutMs + 1 s). */
  timeoutMs: number;
}

interface Pointer {
  date: string;
  runId: number;
  /** The primary's WAL position when this pointer was read (null: the same server as the pool). */
  lsn: string | null;
}

/** Rough bytes a user costs in memory before loading (measured ~6 bytes an item + ~40 a user; bench/README-lookup.md). */
const estimateBytes = (rows: number, k: number) => rows * (Math.max(1, k) * 6 + 40) + 1_000_000;

export class ServedGenerations implements Lookups {
  private readonly latest = new Map<string, Pointer>();
  /** Per job, newest load first: the run the pointer names and at most one before it (rollback, outage). */
  private readonly memory = new Map<string, MemoryGeneration[]>();
  /** Runs not held, with the reason (over budget, unreadable): each said once, not retried. */
  private readonly skipped = new Map<number, string>();
  private readonly queue = new Set<string>();
  private loading = false;
  /** The load in flight, if any: shedding waits for exactly the pointer's run (whileLoading). */
  private loadingRun: { job: string; runId: number } | undefined;
  /** Re-reads, one after another; `rereadWaiting` coalesces the notices that arrive while one waits. */
  private rereads: Promise<void> = Promise.resolve();
  private rereadWaiting = false;
  private readonly listener: PublishListener;
  private readonly poll: NodeJS.Timeout;
  private down = false;
  private stopped = false;
  private readonly budget: number;
  /** Lookups answered from memory since /metrics last read them: a plain count on the hot path. */
  private fromMemory = 0;

  constructor(private readonly opts: ServedOptions) {
    this.budget = opts.memoryBudgetMb * 1024 * 1024;
    const registers = [opts.metrics.registry];
    const degraded = new client.Gauge({
      name: 'batchcast_serve_degraded',
      help: '1 while the database is not reachable and lookups are answered from memory',
      registers,
    });
    degraded.set(0);
    const memory = this.memory;
    new client.Gauge({
      name: 'batchcast_memory_generation_bytes',
      help: 'Bytes of the generations held in memory, per job',
      labelNames: ['job'],
      registers,
      collect() {
        this.reset();
        for (const [job, list] of memory) this.labels(job).set(list.reduce((s, x) => s + x.bytes, 0));
      },
    });
    new client.Gauge({ name: 'batchcast_memory_budget_bytes', help: 'serve.memoryBudgetMb in bytes', registers }).set(this.budget);
    const served = this; // collect() is called with the counter as `this`
    new client.Counter({
      name: 'batchcast_lookups_from_memory_total',
      help: 'Lookups answered from a generation held in memory',
      registers,
      collect() {
        this.inc(served.fromMemory);
        served.fromMemory = 0;
      },
    });
    const notices = new client.Counter({
      name: 'batchcast_publish_notifications_total',
      help: 'Publish notifications received (NOTIFY)',
      registers,
    });
    if (this.budget === 0) opts.log.info('serve.memoryBudgetMb is 0: every lookup reads PostgreSQL');

    this.listener = new PublishListener({
      connect: opts.connectPrimary ?? (() => connectLike(opts.pool, { applicationName: 'batchcast serve listen', onError: () => {} })),
      onPublish: (e) => {
        notices.inc();
        this.published(e);
      },
      onConnected: (c) => this.serially(() => this.reread(c)),
      onState: (up) => {
        const was = this.down;
        this.down = !up;
        degraded.set(up ? 0 : 1);
        if (up && was) opts.log.info('the database is reachable again: pointers re-read, lookups follow the published generations');
        if (!up && !was) {
          const held = [...this.latest.keys()].filter((j) => this.current(j, null));
          opts.log.warn(
            `the database is not reachable: lookups answered from memory for ${held.join(', ') || 'no job'}; others answer 503 until it returns`,
          );
        }
      },
      heartbeatMs: opts.heartbeatMs,
      log: opts.log,
    }).start();
    // A job file that appears may name a job whose notices were dropped as unknown: read its pointer now.
    opts.catalogue.onChange(() => {
      this.reconcile();
      this.requestReread();
    });
    this.poll = setInterval(() => this.requestReread(true), opts.pointerPollMs);
    this.poll.unref();
  }

  /** True once the LISTEN link is lost, until it is back: readiness then answers from memory without waiting on the database. */
  get databaseDown(): boolean {
    return this.down;
  }

  /** Something else reached the database while the link was down: reconnect now rather than after the backoff. */
  reconnectNow(): void {
    this.listener.reconnectNow();
  }

  lookup(job: string, date: string | null, userId: string): Promise<UserAnswer | undefined> | UserAnswer {
    const g = this.current(job, date) ?? this.whileLoading(job, date);
    if (g) {
      this.fromMemory++;
      return { generation: g.generation, user: g.lookup(userId) };
    }
    return Promise.resolve(this.opts.database.lookup(job, date, userId)).then(
      (answer) => {
        if (this.down) this.reconnectNow(); // the database answered: the link need not wait out its backoff
        return answer;
      },
      (err) => {
        // Memory stands in only in an outage: the link is down, or this lookup lost its connection. A slow
        // database (statement timeout, class 53, the client deadline) answers 503: retrying reaches the run
        // the pointer names, while a held generation may be one it no longer names.
        const outage = this.down || isConnectionLoss(err);
        const held = outage && !(err instanceof OverloadedError) ? this.newest(job, date) : undefined;
        if (!held) throw err;
        this.fromMemory++;
        return { generation: held.generation, user: held.lookup(userId) };
      },
    );
  }

  /** The generation in memory that the pointer names for (job, date), date null = latest. */
  current(job: string, date: string | null): MemoryGeneration | undefined {
    const p = this.latest.get(job);
    if (!p || (date !== null && date !== p.date)) return undefined;
    const list = this.memory.get(job);
    if (!list) return undefined;
    for (const g of list) if (g.generation.runId === p.runId) return g;
    return undefined;
  }

  /**
   * While the published run loads, lookups go to PostgreSQL (the new generation from the moment it
   * commits) unless PostgreSQL is already busy: with more than SHED_QUEUED lookups waiting, the previous
   * generation still held answers instead (naming its run). Loading 1M users takes seconds of CPU; sending
   * all traffic to the ~3x costlier database path meanwhile cut throughput 6-fold under wrk and timed out
   * requests (bench/README-lookup.md).
   */
  private whileLoading(job: string, date: string | null): MemoryGeneration | undefined {
    if (date !== null || (this.opts.database.stats?.queued ?? 0) <= SHED_QUEUED) return undefined;
    const p = this.latest.get(job);
    const l = this.loadingRun;
    // Over budget, skipped, a rollback waiting for its turn: no load of the pointer's run, no shedding.
    if (!p || l?.job !== job || l.runId !== p.runId) return undefined;
    // The previous date only: a superseded or rolled-back run of the same date never answers.
    return this.memory.get(job)?.find((g) => g.generation.predictionDate < p.date);
  }

  /** Any generation held for (job, date): the fallback when the database cannot say which one is published. */
  private newest(job: string, date: string | null): MemoryGeneration | undefined {
    const now = this.current(job, date);
    if (now) return now;
    return this.memory.get(job)?.find((g) => date === null || g.generation.predictionDate === date);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    await this.listener.stop();
  }

  /** A notice is a hint: for a job served here, re-read the pointer; its run and date are not believed. */
  private published(e: PublishEvent): void {
    if (this.opts.catalogue.get(e.job)) this.requestReread();
  }

  /**
   * Queues a re-read on the listening connection; notices arriving while one already waits share it. When
   * the link is down its reconnect re-reads after LISTEN, so nothing is missed; the poll then reads the
   * lookup pool instead (a link that never comes up, such as LISTEN refused, still follows the pointers).
   */
  private requestReread(poll = false): void {
    if (this.rereadWaiting || this.stopped) return;
    this.rereadWaiting = true;
    void this.serially(async () => {
      this.rereadWaiting = false;
      // A hung connection is found by the listener's heartbeat, which closes it and fails this read.
      const read = await this.listener.query(async (c) => {
        await this.reread(c);
        return true;
      });
      if (!read && poll) await withDeadline(this.opts.pool, this.opts.timeoutMs, 'pointer poll', (c) => this.reread(c));
    }).catch((err) =>
      this.opts.log.warn(`re-reading the published pointers failed (${describeError(err)}); retried at the next notice or poll`),
    );
  }

  private serially(fn: () => Promise<void>): Promise<void> {
    const next = this.rereads.then(fn);
    this.rereads = next.catch(() => {});
    return next;
  }

  private async reread(c: pg.ClientBase): Promise<void> {
    const read: Pointers = await readPointers(c);
    // Lookups read a replica: the new pointers take effect once it has replayed what the primary showed, so
    // a lookup sent to it never reads its older pointer, and a load never misses the run (a few ms).
    if (this.opts.connectPrimary && read.lsn) {
      await withDeadline(this.opts.pool, this.opts.timeoutMs, 'replica catch-up', (r) =>
        waitForReplay(r, read.lsn, this.opts.timeoutMs),
      ).catch((err) =>
        this.opts.log.warn(
          `the lookup database has not caught up with the primary (${describeError(err)}); following the primary's pointers anyway`,
        ),
      );
    }
    for (const job of [...this.latest.keys()]) if (!read.latest.has(job)) this.latest.delete(job);
    for (const [job, g] of read.latest) {
      const p = this.latest.get(job);
      if (p?.runId !== g.runId || p.date !== g.date) this.latest.set(job, { date: g.date, runId: g.runId, lsn: read.lsn });
    }
    this.reconcile();
  }

  /** Queues a load for every served job whose pointer names a run not held; drops jobs no longer served. */
  private reconcile(): void {
    for (const job of this.memory.keys()) if (!this.opts.catalogue.get(job)) this.memory.delete(job);
    if (this.budget === 0 || this.stopped) return;
    for (const [job, p] of this.latest) {
      if (this.opts.catalogue.get(job) && !this.current(job, null) && !this.skipped.has(p.runId)) this.queue.add(job);
    }
    if (!this.loading && this.queue.size) void this.drain();
  }

  private async drain(): Promise<void> {
    this.loading = true;
    try {
      while (this.queue.size && !this.stopped) {
        const job = this.queue.values().next().value as string;
        this.queue.delete(job);
        const p = this.latest.get(job);
        if (p && !this.current(job, null) && !this.skipped.has(p.runId)) await this.load(job, p.runId, p.lsn);
      }
    } finally {
      this.loading = false;
    }
  }

  private heldBytes(except?: string): number {
    let n = 0;
    for (const [job, list] of this.memory) if (job !== except) for (const g of list) n += g.bytes;
    return n;
  }

  private skip(runId: number, why: string): void {
    this.skipped.set(runId, why);
    this.opts.log.warn(why);
  }

  private async load(job: string, runId: number, lsn: string | null): Promise<void> {
    const t0 = performance.now();
    let c: pg.Client | undefined;
    try {
      // Its own connection without statement_timeout: a 1M-user COPY takes seconds, and the pool stays free for lookups.
      c = await connectLike(this.opts.pool, { applicationName: 'batchcast serve load', statementTimeoutMs: 0, onError: () => {} });
      // A replica a few ms behind the primary would not know the run yet: wait for it (at once on the primary).
      await waitForReplay(c, lsn, this.opts.timeoutMs);
      const meta = await readGenerationMeta(c, runId);
      if (!meta) return this.skip(runId, `job ${job}: run ${runId} is not in the run ledger; served from PostgreSQL`);
      const others = this.heldBytes(job);
      const need = estimateBytes(meta.rows, meta.k);
      const mb = (b: number) => Math.round(b / 1048576);
      if (others + need > this.budget) {
        return this.skip(
          runId,
          `job ${job}: run ${runId} (${meta.rows} users) needs about ${mb(need)} MB, more than the ${mb(this.budget - others)} MB serve.memoryBudgetMb=${this.opts.memoryBudgetMb} leaves` +
            ` (${mb(others)} MB hold other jobs); its lookups are served from PostgreSQL`,
        );
      }
      // Keep the job's previous generation during the load when both fit, else let it go first.
      let mine = this.heldBytes() - others;
      if (others + mine + need > this.budget) {
        this.memory.delete(job);
        mine = 0;
      }
      // From here until the switch, and only here, lookups of the previous date may be shed (whileLoading).
      this.loadingRun = { job, runId };
      const g = await buildMemoryGeneration(meta, generationRows(c, meta), this.budget - others - mine);
      if (this.stopped) return;
      const previous = (this.memory.get(job) ?? []).filter((x) => x.generation.runId !== runId);
      const kept = previous.length && others + g.bytes + previous[0].bytes <= this.budget ? [g, previous[0]] : [g];
      this.memory.set(job, kept); // the switch: lookups read this Map once each
      this.opts.log.info(
        `job ${job}: run ${runId} (${meta.predictionDate}, ${g.userCount} users, ${mb(g.bytes)} MB, ${Math.round(g.bytes / Math.max(1, g.userCount))} bytes a user) loaded in ${Math.round(performance.now() - t0)} ms; answered from memory`,
        { job, runId, users: g.userCount, bytes: g.bytes },
      );
    } catch (err) {
      if (err instanceof OverBudgetError) {
        this.skip(
          runId,
          `job ${job}: ${err.message} (serve.memoryBudgetMb=${this.opts.memoryBudgetMb}); its lookups are served from PostgreSQL`,
        );
      } else if (err instanceof BadGenerationError) {
        this.skip(runId, `job ${job}: run ${runId} cannot be held in memory (${err.message}); its lookups are served from PostgreSQL`);
      } else if (!this.stopped) {
        // the database went away mid-load, most likely: tried again at the next re-read (reconnect, poll or publish)
        this.opts.log.warn(
          `job ${job}: loading run ${runId} into memory failed (${describeError(err)}); lookups read PostgreSQL until a retry succeeds`,
        );
      }
    } finally {
      this.loadingRun = undefined;
      await c?.end().catch(() => {});
    }
  }
}
