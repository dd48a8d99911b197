// Tells a person when a scheduled date needs one (Airflow's on_failure_callback): a webhook POST when a
// date is held by a gate, fails, or is late (past its wait_for_data timeout). Slack-compatible JSON
// (`{"text": ...}`) or plain JSON, the URL and an Authorization header from the environment.
//
// Never in the way of a run: send() returns at once and the delivery runs in the background, each
// attempt bounded by timeoutMs, retried with exponential backoff. At exit, flush() waits at most flushMs
// for deliveries still going, then drops them (logged): a receiver that is down or hangs costs nothing
// while the scheduler works, and at most flushMs at exit.
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/load-config.ts';
import { describeError, ExitCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DateOutcome } from './date-outcome.ts';

export type AlertKind = 'held' | 'failed' | 'late';

export interface Alert {
  kind: AlertKind;
  job: string;
  date: string;
  runId: number | undefined;
  exitCode: number | undefined;
  /** the outcome's note: what happened and what to do */
  message: string;
}

/** The alert a date's outcome calls for, if any: held, failed, late (a failure with exit code 7). */
export function alertOf(o: DateOutcome): Alert | undefined {
  if (o.status !== 'held' && o.status !== 'failed') return undefined;
  const kind: AlertKind = o.status === 'held' ? 'held' : o.exitCode === ExitCode.late ? 'late' : 'failed';
  return { kind, job: o.job, date: o.date, runId: o.runId, exitCode: o.exitCode, message: o.note ?? '' };
}

const HEADLINE: Record<AlertKind, string> = {
  held: 'held by a gate: nothing published, the previous generation is still served',
  failed: 'failed: nothing published, the previous generation is still served',
  late: 'late: its input files did not arrive in time; nothing ran',
};

/** The request body for `format`: Slack's `text`, or the alert's fields. */
export function alertBody(a: Alert, format: 'slack' | 'json', host = os.hostname()): string {
  const run = a.runId !== undefined ? `, run ${a.runId}` : '';
  const exit = a.exitCode !== undefined ? ` (exit ${a.exitCode})` : '';
  if (format === 'slack') {
    return JSON.stringify({ text: `batchcast: job ${a.job}, date ${a.date}${run} ${HEADLINE[a.kind]}${exit}\n${a.message}`.trim() });
  }
  return JSON.stringify({
    event: a.kind,
    job: a.job,
    date: a.date,
    run_id: a.runId ?? null,
    exit_code: a.exitCode ?? null,
    summary: HEADLINE[a.kind],
    message: a.message,
    host,
    at: new Date().toISOString(),
  });
}

export interface WebhookOptions {
  url: string;
  format: 'slack' | 'json';
  authorization?: string;
  timeoutMs: number;
  attempts: number;
  log: Logger;
  /** first backoff; doubled after each failed attempt */
  backoffMs?: number;
}

export class WebhookAlerts {
  private readonly pending = new Set<Promise<void>>();
  private readonly closing = new AbortController();

  constructor(private readonly o: WebhookOptions) {}

  /** From config.alerts; undefined when no webhook is configured. */
  static fromConfig(config: Config, log: Logger): WebhookAlerts | undefined {
    const a = config.alerts;
    if (!a.webhookUrl) return undefined;
    return new WebhookAlerts({
      url: a.webhookUrl,
      format: a.format,
      authorization: a.authorization,
      timeoutMs: a.timeoutMs,
      attempts: a.attempts,
      log,
    });
  }

  /** Fire and forget: returns at once, delivers in the background. */
  send(alert: Alert): void {
    if (this.closing.signal.aborted) return;
    const delivery: Promise<void> = this.deliver(alert)
      .catch((err) => this.o.log.warn(`alert for job ${alert.job}, date ${alert.date} not sent: ${describeError(err)}`))
      .finally(() => this.pending.delete(delivery));
    this.pending.add(delivery);
  }

  /** Deliveries still in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Waits up to `ms` for the deliveries in flight, then abandons the rest; sends nothing afterwards. */
  async flush(ms: number): Promise<void> {
    if (this.pending.size) {
      const timer = new AbortController();
      await Promise.race([Promise.allSettled([...this.pending]), sleep(ms, undefined, { signal: timer.signal }).catch(() => {})]);
      timer.abort();
    }
    const dropped = this.pending.size;
    this.closing.abort();
    if (dropped) this.o.log.warn(`${dropped} alert(s) still undelivered after ${ms} ms at exit; dropped (the log above has each date)`);
    await Promise.allSettled([...this.pending]);
  }

  private async deliver(alert: Alert): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.o.authorization) headers.authorization = this.o.authorization;
    const body = alertBody(alert, this.o.format);
    let backoff = this.o.backoffMs ?? 500;
    let last = '';
    let tried = 0;
    for (let attempt = 1; attempt <= this.o.attempts; attempt++) {
      tried = attempt;
      try {
        const res = await fetch(this.o.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs), this.closing.signal]),
        });
        await res.body?.cancel();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
        // 4xx but 408 and 429: the request itself is wrong (a revoked URL, a bad token); retrying will not help
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) break;
      } catch (err) {
        if (this.closing.signal.aborted) throw new Error('dropped at exit', { cause: err });
        last = describeError(err);
      }
      if (attempt < this.o.attempts) {
        await sleep(backoff, undefined, { signal: this.closing.signal }).catch(() => {});
        if (this.closing.signal.aborted) throw new Error('dropped at exit');
        backoff *= 2;
      }
    }
    // the URL may hold a secret (Slack's does): say where by host only
    throw new Error(`the webhook at ${new URL(this.o.url).host} answered ${last} (${tried} attempt(s))`);
  }
}
