// Any role that can connect may NOTIFY on the publish channel (the read-only lookup role too): a flood of
// malformed notices must not flood serve's log. A real LISTEN link gets 300 of them: one warning line, and
// the next one, a minute on, counts the ones not logged. A well-formed notice still arrives at once.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Logger } from '../src/log.ts';
import { type PublishEvent, PublishListener } from '../src/serve/generations/publish-listener.ts';
import { PUBLISH_CHANNEL } from '../src/store/pointer.ts';
import { createTestDb, type TestDb } from './helpers.ts';

let t: TestDb;
let listener: PublishListener | undefined;
const warned: string[] = [];
const events: PublishEvent[] = [];
const logger: Logger = { debug: () => {}, info: () => {}, warn: (m) => warned.push(m), error: () => {}, child: () => logger };

beforeAll(async () => {
  t = await createTestDb('malformed_notices');
}, 60_000);

afterAll(async () => {
  await listener?.stop();
  await t?.drop();
});

it('300 malformed notices make one warning line; a good notice still arrives', async () => {
  let connected: () => void = () => {};
  const up = new Promise<void>((r) => {
    connected = r;
  });
  listener = new PublishListener({
    connect: async () => {
      const c = new pg.Client({ connectionString: t.url });
      await c.connect();
      return c;
    },
    onPublish: (e) => events.push(e),
    onConnected: async () => connected(),
    onState: () => {},
    heartbeatMs: 5_000,
    log: logger,
  }).start();
  await up;
  const sender = new pg.Client({ connectionString: t.url });
  await sender.connect();
  try {
    for (let i = 0; i < 300; i++) await sender.query('select pg_notify($1, $2)', [PUBLISH_CHANNEL, `junk ${i}`]);
    await sender.query('select pg_notify($1, $2)', [PUBLISH_CHANNEL, JSON.stringify({ job: 'demo', date: '2026-11-20', run_id: 7 })]);
  } finally {
    await sender.end();
  }
  for (const until = Date.now() + 5_000; events.length === 0; await new Promise((r) => setTimeout(r, 10)))
    expect(Date.now()).toBeLessThan(until);
  expect(events).toEqual([{ job: 'demo', date: '2026-11-20', runId: 7, previousRunId: null, action: 'publish' }]);
  const malformed = warned.filter((m) => m.includes('malformed'));
  expect(malformed).toHaveLength(1);
  expect(malformed[0]).toContain('"junk 0"');
  expect(malformed[0]).toContain('at most one such line a minute');
}, 60_000);
