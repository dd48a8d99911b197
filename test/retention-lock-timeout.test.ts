// Retention's DETACH and DROP behind a reader that never finishes (an export whose client stopped reading
// holds its snapshot and its lock on the run table): with retentionLockTimeoutMs they give up, the date's
// run lock is released, and the next retention, once the reader is gone, finishes the date.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeSmallDates } from '../bench/small-dates.ts';
import { connectClient } from '../src/db/connect.ts';
import { pruneGenerations } from '../src/retention/prune-generations.ts';
import { retainDates } from '../src/retention/retain-dates.ts';
import { releaseRunLock, tryRunLock } from '../src/store/locks.ts';
import { migrate } from '../src/store/migrate.ts';
import { runTable } from '../src/store/tables.ts';
import { createTestDb, type TestDb } from './helpers.ts';

const [old, kept, newest] = ['2026-11-10', '2026-11-18', '2026-11-20'];
let t: TestDb;
let client: pg.Client; // retention's dedicated connection
let oldRun: number;
let superseded: number;

/** A reader inside a transaction that has read `runId`'s table and stays open until `end()`. */
async function longReader(runId: number): Promise<{ end(): Promise<void> }> {
  const reader = new pg.Client({ connectionString: t.url });
  await reader.connect();
  await reader.query('begin isolation level repeatable read');
  await reader.query(`select count(*) from ${runTable(runId)}`);
  return {
    async end() {
      await reader.query('commit');
      await reader.end();
    },
  };
}

/** `p`, or a failure after `ms`: without a lock_timeout the drop would wait as long as the reader lasts. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);
}

beforeAll(async () => {
  t = await createTestDb('retention_lock');
  await migrate(t.db.pool);
  client = await connectClient(t.url, t.config, { statementTimeoutMs: 0 });
  [superseded] = await writeSmallDates(client, { job: 'j', dates: [kept], users: 20, k: 3, finish: 'attached' });
  [oldRun] = await writeSmallDates(client, { job: 'j', dates: [old], users: 20, k: 3 });
  await writeSmallDates(client, { job: 'j', dates: [kept, newest], users: 20, k: 3 });
}, 60_000);
afterAll(async () => {
  await client?.end();
  await t?.drop();
});

it('retention by date gives up on a date behind a long reader, releases its lock, and finishes it next time', async () => {
  const reader = await longReader(oldRun);
  const req = { job: 'j', days: 5, archive: undefined, memoryLimit: '128MB', archiveTimeoutMs: 60_000, lockTimeoutMs: 300 };
  let first: Awaited<ReturnType<typeof retainDates>>;
  try {
    first = await within(10_000, retainDates(t.db, client, req));
  } finally {
    // the run lock of the date is free again while the reader still reads
    const other = await connectClient(t.url, t.config);
    const free = await tryRunLock(other, 'j', old);
    if (free) await releaseRunLock(other, 'j', old);
    await other.end();
    expect(free).toBe(true);
    await reader.end();
  }
  expect(first.skippedBusy).toEqual([old]);
  expect(first.retired).toEqual([]);
  // no lock_timeout left behind on the connection
  expect((await client.query('show lock_timeout')).rows[0].lock_timeout).toBe('0');
  const second = await within(10_000, retainDates(t.db, client, req));
  expect(second.retired.map((r) => [r.date, r.dropped])).toEqual([[old, [oldRun]]]);
  expect((await t.db.pool.query('select to_regclass($1) as t', [runTable(oldRun)])).rows[0].t).toBeNull();
}, 30_000);

it('prune --keep gives up on a run behind a long reader in the same way', async () => {
  const reader = await longReader(superseded);
  let first: Awaited<ReturnType<typeof pruneGenerations>>;
  try {
    first = await within(10_000, pruneGenerations(t.db, client, { job: 'j', keep: 1, lockDates: true, lockTimeoutMs: 300 }));
  } finally {
    await reader.end();
  }
  expect(first.skippedBusy).toEqual([`j ${kept}`]);
  // the interrupted DETACH CONCURRENTLY is finished first (PostgreSQL allows one pending detach per table)
  const pending = `select count(*)::int as n from pg_inherits where inhparent = 'batchcast.predictions'::regclass and inhdetachpending`;
  expect((await client.query(pending)).rows[0].n).toBe(1);
  const second = await pruneGenerations(t.db, client, { job: 'j', keep: 1, lockDates: true, lockTimeoutMs: 300 });
  expect(second.dropped).toEqual([superseded]);
  expect((await client.query(pending)).rows[0].n).toBe(0);
}, 30_000);
