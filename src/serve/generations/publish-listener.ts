// How `serve` learns of a publish the moment it commits: LISTEN on a dedicated connection (the shape of
// pg-boss 12's useListenNotify and graphile-worker's jobs:insert listener).
// - A heartbeat (`select 1`, answered within heartbeatMs) finds a silently dead link: a half-open TCP
//   connection delivers no notifications and raises no error, so waiting for an error is not enough.
// - After every (re)connect it LISTENs first and then calls onConnected, which re-reads the pointers:
//   a publish committed while the link was down is never missed, because the re-read starts after LISTEN.
// - A notice is a hint, never an order: NOTIFY needs no privilege, so any role that can connect can send
//   one. The caller re-reads the pointer on this connection (served-generations.ts).
// - It connects to the primary: a hot standby refuses LISTEN ("cannot execute LISTEN during recovery"),
//   said once (then every 10 minutes) with what to set (LISTEN_DATABASE_URL).
// - The caller keeps a slow poll as a backstop (served-generations.ts); this module only listens.
import type pg from 'pg';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { PUBLISH_CHANNEL, type PublishNotice } from '../../store/pointer.ts';

export interface PublishEvent {
  job: string;
  date: string;
  runId: number;
  previousRunId: number | null;
  action: string;
}

export interface ListenOptions {
  /** A new dedicated connection (not from the lookup pool). */
  connect: () => Promise<pg.Client>;
  onPublish: (event: PublishEvent) => void;
  /** After LISTEN took effect, on the listening client: re-read what may have been missed. */
  onConnected: (client: pg.Client) => Promise<void>;
  /** The link went up (true) or down (false). */
  onState: (up: boolean) => void;
  heartbeatMs: number;
  log: Logger;
}

/** A server that refuses LISTEN (a standby in recovery: 25006 read_only_sql_transaction) will keep refusing it. */
function isListenRefused(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === '25006' || /cannot execute LISTEN/i.test(e?.message ?? '');
}

/** Log lines of one kind at most once per `everyMs`; the ones held back are counted into the next. */
class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;
  constructor(private readonly everyMs: number) {}
  /** undefined: hold this one back; else the number held back since the last one said. */
  pass(): number | undefined {
    const now = Date.now();
    if (now - this.last < this.everyMs) {
      this.held++;
      return undefined;
    }
    this.last = now;
    const held = this.held;
    this.held = 0;
    return held;
  }
}

/** A refused LISTEN is said at once, then every 10 minutes; a malformed notice at most once a minute. */
const REFUSED_EVERY_MS = 600_000;
const MALFORMED_EVERY_MS = 60_000;

/** A notice from another writer, checked field by field: a malformed one is logged and skipped, never trusted. */
export function parseNotice(payload: string | undefined): PublishEvent | undefined {
  let n: Partial<PublishNotice>;
  try {
    n = JSON.parse(payload ?? '');
  } catch {
    return undefined;
  }
  if (
    !n ||
    typeof n.job !== 'string' ||
    typeof n.date !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}$/.test(n.date) ||
    !Number.isSafeInteger(n.run_id)
  )
    return undefined;
  const prev = Number.isSafeInteger(n.previous_run_id) ? (n.previous_run_id as number) : null;
  return { job: n.job, date: n.date, runId: n.run_id as number, previousRunId: prev, action: String(n.action ?? 'publish') };
}

/** Closes a client's socket at once (pg has no public call for it). */
function destroySocket(c: pg.Client): void {
  (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export class PublishListener {
  private client: pg.Client | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private up = false;
  /** Clients already given up on: each is dropped once, whichever of error, end or heartbeat reports it first. */
  private readonly dead = new WeakSet<pg.Client>();
  /** Reconnect backoff: 100 ms doubling to 5 s, so a database restart is noticed within ~5 s of its return. */
  private backoffMs = 100;
  private readonly refused = new Throttle(REFUSED_EVERY_MS);
  private readonly malformed = new Throttle(MALFORMED_EVERY_MS);

  constructor(private readonly opts: ListenOptions) {}

  get connected(): boolean {
    return this.up;
  }

  start(): this {
    void this.connect();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.up = false;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    // A polite end() waits for the server's goodbye, which a half-open link never sends: give it 1 s.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      c.end().catch(() => {}),
      new Promise<void>((r) => {
        timer = setTimeout(r, 1_000);
      }),
    ]);
    clearTimeout(timer);
    destroySocket(c);
  }

  /** Runs `fn` on the listening connection (the primary) if the link is there; undefined when it is not. */
  async query<T>(fn: (c: pg.Client) => Promise<T>): Promise<T | undefined> {
    const c = this.client;
    if (!c || this.dead.has(c)) return undefined;
    return fn(c);
  }

  /** Skips the rest of the backoff, when a retry is waiting. */
  reconnectNow(): void {
    if (!this.retry || this.stopped) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    void this.connect();
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.opts.onState(up);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let client: pg.Client | undefined;
    try {
      client = await this.opts.connect();
      if (this.stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.client = client;
      const c = client;
      c.on('notification', (msg) => {
        if (msg.channel !== PUBLISH_CHANNEL) return;
        const event = parseNotice(msg.payload);
        if (event) return this.opts.onPublish(event);
        // Any role that can connect may NOTIFY: a flood of junk must not flood the log.
        const held = this.malformed.pass();
        if (held === undefined) return;
        const more = held ? ` (${held} more since the last one said, not logged)` : '';
        this.opts.log.warn(
          `ignored a malformed ${PUBLISH_CHANNEL} notification: ${JSON.stringify(String(msg.payload).slice(0, 200))}${more}; at most one such line a minute`,
        );
      });
      c.on('error', (err) => this.lost(c, err));
      c.on('end', () => this.lost(c, new Error('connection ended')));
      await c.query(`listen ${PUBLISH_CHANNEL}`);
      await this.opts.onConnected(c);
      if (this.client !== c) return; // lost while re-reading
      this.backoffMs = 100;
      this.setUp(true);
      this.heartbeat = setInterval(() => void this.beat(c), this.opts.heartbeatMs);
      this.heartbeat.unref();
    } catch (err) {
      if (client) this.lost(client, err);
      else this.scheduleRetry(err);
    }
  }

  private async beat(c: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`heartbeat unanswered for ${this.opts.heartbeatMs} ms`)), this.opts.heartbeatMs);
    });
    try {
      await Promise.race([c.query('select 1'), late]);
    } catch (err) {
      this.lost(c, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops a dead or doubtful link (never reused) and reconnects. Called once per client, whatever reports it first. */
  private lost(c: pg.Client, err: unknown): void {
    if (this.dead.has(c) || this.stopped) return;
    this.dead.add(c);
    if (this.client === c) this.client = undefined;
    clearInterval(this.heartbeat);
    this.setUp(false);
    // end() waits for the server's goodbye, which a half-open link never sends: close the socket instead.
    destroySocket(c);
    c.end().catch(() => {});
    this.scheduleRetry(err);
  }

  private scheduleRetry(err: unknown): void {
    if (this.stopped || this.retry) return;
    if (isListenRefused(err)) {
      const held = this.refused.pass();
      if (held !== undefined)
        this.opts.log.warn(
          `publish notifications: the server refuses LISTEN (${describeError(err)}): it is a hot standby. ` +
            'Set LISTEN_DATABASE_URL (config listenDatabaseUrl) to the primary (the read-only lookup role will do): ' +
            'until then a publish is seen only at the pointer poll (serve.pointerPollMs), and /readyz says degraded' +
            (held ? ` (${held} refusals since the last line)` : '') +
            `; said again in ${REFUSED_EVERY_MS / 60_000} minutes if it persists`,
        );
    } else
      this.opts.log.warn(
        `publish notifications: link to the database lost or not made (${describeError(err)}); retrying in ${this.backoffMs} ms, lookups answered from memory meanwhile`,
      );
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
  }
}
