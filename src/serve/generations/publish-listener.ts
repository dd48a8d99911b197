// How `serve` learns of a publish the moment it commits: LISTEN on a dedicated connection (the shape of
// pg-boss 12's useListenNotify and graphile-worker's jobs:insert listener).
// - A heartbeat (`select 1`, answered within heartbeatMs) finds a silently dead link: a half-open TCP
//   connection delivers no notifications and raises no error, so waiting for an error is not enough.
// - After every (re)connect it LISTENs first and then calls onConnected, which re-reads the pointers:
//   a publish committed while the link was down is never missed, because the re-read starts after LISTEN.
// - A notice is a hint, never an order: NOTIFY needs no privilege, so any role that can connect can send
//   one. The caller re-reads the pointer on this connection (served-generations.ts).
// - It connects to the primary: a hot standby refuses LISTEN ("cannot execute LISTEN during recovery").
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
        if (event) this.opts.onPublish(event);
        else
          this.opts.log.warn(`ignored a malformed ${PUBLISH_CHANNEL} notification: ${JSON.stringify(String(msg.payload).slice(0, 200))}`);
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
