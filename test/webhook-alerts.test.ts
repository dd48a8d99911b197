// Alerts against a real local HTTP receiver: the scheduler tells the webhook of a held, a failed and a late
// date (Slack-compatible, the Authorization header from the environment), retrying after a 500; a receiver
// that is down (a closed port) or hangs (accepts, never answers) delays neither the scheduler nor the exit
// by more than the bounded flush.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { freePort } from '../src/db/embedded.ts';
import { Scheduler } from '../src/schedule/scheduler.ts';
import { alertBody, WebhookAlerts } from '../src/schedule/webhook-alerts.ts';
import { migrate } from '../src/store/migrate.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';

interface Received {
  authorization: string | undefined;
  body: any;
}

/** A webhook receiver on 127.0.0.1: 'flaky' answers 500 to the first request, 'hang' never answers. */
async function receiver(mode: 'flaky' | 'hang') {
  const got: Received[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (mode === 'hang') return; // holds the connection open, never answers
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      if (requests === 1) {
        res.writeHead(500).end();
        return;
      }
      got.push({ authorization: req.headers.authorization, body: JSON.parse(text) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/B000/secret`,
    got,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

let t: TestDb;
let fx: Fixture;
const [held, failed, late] = ['2026-11-20', '2026-11-21', '2026-11-22'];

beforeAll(async () => {
  t = await createTestDb('webhook_alerts');
  await migrate(t.db.pool);
  fx = await makeFixture({
    name: 'alerted',
    idType: 'int',
    output: 'top_k',
    featureMode: 'columns',
    users: 100,
    items: 40,
    dates: [held, failed],
    job: {
      schedule: { cron: '0 2 * * *', catchup_days: 5, start_date: held, wait_for_data: { timeout_seconds: 1, poll_seconds: 1 } },
      // one item in every top K is more than 0%: a gate that holds every date
      gates: { max_top_item_share: 0 },
    },
  });
  // the second date's file is not Parquet: its run fails (exit 2); the third has no files: late
  writeFileSync(path.join(fx.featuresDir, `dt=${failed}`, 'part-0.parquet'), 'not parquet');
});
afterAll(async () => {
  await t?.drop();
});

const clock = { now: () => new Date('2026-11-23T03:00:00Z') };

function scheduler(env: Record<string, string>, timeoutMs = 2_000) {
  const config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1, alerts: { timeoutMs } }, env);
  return { config, alerts: WebhookAlerts.fromConfig(config, log) };
}

describe('webhook alerts', () => {
  it('a receiver gets held, failed and late alerts, Slack-compatible, with the Authorization from the environment', async () => {
    const hook = await receiver('flaky');
    try {
      const { config, alerts } = scheduler({ BATCHCAST_ALERT_WEBHOOK_URL: hook.url, BATCHCAST_ALERT_AUTHORIZATION: 'Bearer s3cret' });
      expect(config.alerts.format).toBe('slack');
      const s = new Scheduler({ config, db: t.db, log, wake: 'manual', clock, alerts });
      const [pass] = await s.start();
      await s.stop();
      expect(pass.outcomes.map((o) => [o.date, o.status, o.exitCode])).toEqual([
        [held, 'held', 6],
        [failed, 'failed', 2],
        [late, 'failed', 7],
      ]);
      await alerts!.flush(10_000);
      expect(hook.requests()).toBe(4); // the first got a 500 and was retried
      expect(hook.got.map((g) => g.authorization)).toEqual(['Bearer s3cret', 'Bearer s3cret', 'Bearer s3cret']);
      const texts = hook.got.map((g) => g.body.text as string).sort();
      expect(texts).toHaveLength(3);
      expect(texts.find((x) => x.includes(held))).toMatch(
        /^batchcast: job alerted, date 2026-11-20, run \d+ held by a gate: .* \(exit 6\)\n/,
      );
      expect(texts.find((x) => x.includes(failed))).toMatch(/^batchcast: job alerted, date 2026-11-21, run \d+ failed: .* \(exit 2\)\n/);
      expect(texts.find((x) => x.includes(late))).toMatch(
        /^batchcast: job alerted, date 2026-11-22, run \d+ late: its input files did not arrive in time; nothing ran \(exit 7\)\nlate: no files/,
      );
    } finally {
      await hook.close();
    }
  }, 120_000);

  it('json format: the alert as fields', () => {
    const body = JSON.parse(
      alertBody({ kind: 'late', job: 'shop', date: '2026-11-20', runId: 7, exitCode: 7, message: 'late: no files' }, 'json', 'h1'),
    );
    expect(body).toMatchObject({
      event: 'late',
      job: 'shop',
      date: '2026-11-20',
      run_id: 7,
      exit_code: 7,
      message: 'late: no files',
      host: 'h1',
    });
  });

  for (const down of ['closed', 'hang'] as const) {
    it(`a receiver that is down (${down === 'closed' ? 'a closed port' : 'accepts and never answers'}) delays nothing`, async () => {
      const hook = down === 'hang' ? await receiver('hang') : undefined;
      const url = hook?.url ?? `http://127.0.0.1:${await freePort()}/hook`;
      try {
        // a 30 s timeout per attempt: anything that waited for the receiver would take 30 s or more
        const alerts = new WebhookAlerts({ url, format: 'json', timeoutMs: 30_000, attempts: 5, backoffMs: 1_000, log });
        const t0 = performance.now();
        for (let i = 0; i < 50; i++) alerts.send({ kind: 'failed', job: 'shop', date: '2026-11-20', runId: i, exitCode: 2, message: 'x' });
        const sendMs = performance.now() - t0;
        // per alert, Node's fetch loading on first use included; a date's run takes seconds
        expect(sendMs / 50).toBeLessThan(10);
        expect(alerts.inFlight).toBe(50);
        const t1 = performance.now();
        await alerts.flush(300);
        const flushMs = performance.now() - t1;
        expect(flushMs).toBeLessThan(1_000);
        expect(alerts.inFlight).toBe(0);
      } finally {
        await hook?.close();
      }
    });
  }

  it('the scheduler with a hanging receiver: the pass takes no longer, and the exit waits only alerts.flushMs', async () => {
    const hook = await receiver('hang');
    // the job file already names the failing and late dates; run them again on a later clock: all due again
    const job = JSON.parse(readFileSync(fx.jobFile, 'utf8'));
    writeFileSync(fx.jobFile, JSON.stringify({ ...job, schedule: { ...job.schedule, start_date: failed } }));
    try {
      const { config, alerts } = scheduler({ BATCHCAST_ALERT_WEBHOOK_URL: hook.url }, 30_000);
      const s = new Scheduler({ config, db: t.db, log, wake: 'manual', clock, alerts });
      const t0 = performance.now();
      const [pass] = await s.start();
      const passMs = performance.now() - t0;
      await s.stop();
      expect(pass.outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
      expect(alerts!.inFlight).toBe(2); // still trying, in the background
      // a run and a 1 s wait; had the pass waited for the receiver, one attempt alone would take 30 s
      expect(passMs).toBeLessThan(15_000);
      const t1 = performance.now();
      await alerts!.flush(200);
      expect(performance.now() - t1).toBeLessThan(1_000);
    } finally {
      await hook.close();
    }
  }, 60_000);
});
