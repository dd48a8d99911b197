// An export to a client that stops reading: a real socket reads the first bytes of a ~20 MB Arrow stream and
// then nothing more, keeping the connection open. After serve.exportIdleTimeoutMs the server cuts it: the
// export slot, the pool connection and its snapshot are released, and the next export streams whole.
import http from 'node:http';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeSmallDates } from '../bench/small-dates.ts';
import { migrate } from '../src/store/migrate.ts';
import { type Fixture, makeFixture } from './fixtures.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { closeAgent, get, recordingLogger, startTestServer, type TestServer } from './serve-helpers.ts';

const date = '2026-11-20';
const USERS = 200_000; // ~20 MB of Arrow: more than the loopback socket buffers hold
let t: TestDb;
let fx: Fixture;
let server: TestServer;
const lines: Parameters<typeof recordingLogger>[0] = [];
let whole = 0; // bytes of the whole stream
const idleCuts = () =>
  lines.filter((l) => l.level === 'warn' && /took nothing for 700 ms \(serve\.exportIdleTimeoutMs\)/.test(l.msg)).length;

beforeAll(async () => {
  t = await createTestDb('export_idle');
  fx = await makeFixture({ name: 'idle', idType: 'string', output: 'top_k', featureMode: 'columns', users: 10, items: 10, dates: [date] });
  await migrate(t.db.pool);
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  await writeSmallDates(client, { job: fx.job, dates: [date], users: USERS, k: 10 });
  await client.end();
  server = await startTestServer(t.url, fx.root, { exportIdleTimeoutMs: 700 }, recordingLogger(lines));
}, 120_000);
afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

/** Connections of the server's pool inside a transaction (the export's snapshot). */
async function exportTransactions(): Promise<number> {
  const { rows } = await t.db.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'batchcast serve test'
        and state like 'idle in transaction%'`,
  );
  return rows[0].n;
}

const target = () => `/v1/jobs/${fx.job}/dates/${date}/export.arrow`;

/** Opens an export, reads its first bytes, then stops reading and keeps the socket open. */
async function stalledClient(): Promise<net.Socket> {
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${target()} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await new Promise<void>((resolve) =>
    socket.once('data', (d) => {
      expect(String(d)).toMatch(/^HTTP\/1\.1 200/);
      socket.pause();
      resolve();
    }),
  );
  return socket;
}

function downloadSize(): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}${target()}`, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      })
      .on('error', reject);
  });
}

const until = async (what: () => Promise<boolean>, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return what();
};

it('a client that stops reading is cut after exportIdleTimeoutMs, and everything it held is freed', async () => {
  const stalled = await stalledClient();
  try {
    // while it stalls, it holds the export's snapshot and the one export slot
    expect(await until(async () => (await exportTransactions()) === 1, 2_000)).toBe(true);
    expect((await get(server.url, target())).status).toBe(503);
    // then the idle timeout cuts it and frees both, with the socket still open on our side. The cut first:
    // while the export still streams into the socket buffers its connection is 'active' between fetches,
    // and a count of idle transactions alone could read 0 before anything was cut.
    expect(await until(async () => idleCuts() === 1, 5_000)).toBe(true);
    expect(await until(async () => (await exportTransactions()) === 0, 2_000)).toBe(true);
    const next = await downloadSize();
    expect(next.status).toBe(200);
    expect(next.bytes).toBeGreaterThan(10_000_000);
    whole = next.bytes;
  } finally {
    stalled.destroy();
  }
}, 60_000);

it('a client that reads slowly but steadily is not cut', async () => {
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  socket.write(`GET ${target()} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  let bytes = 0;
  // ~2 MB every 400 ms: the stream takes a few seconds, each pause shorter than the 700 ms timeout
  socket.on('data', (d: Buffer) => {
    bytes += d.length;
    if (bytes % 2_000_000 < d.length) {
      socket.pause();
      setTimeout(() => socket.resume(), 400);
    }
  });
  await new Promise((resolve) => socket.on('close', resolve));
  expect(idleCuts()).toBe(1); // only the stalled client's
  expect(bytes).toBeGreaterThan(whole); // the whole stream, and the response head
}, 60_000);
