// A forged publish notice changes nothing. NOTIFY needs no privilege: the read-only role made with
// grant_lookup_access can send {"job","date","run_id"} on the publish channel, naming a run held back by a
// gate. `serve` treats a notice as a hint: it re-reads the pointer and loads only the run the pointer names,
// so not one answer changes; notices naming jobs it does not serve leave no trace in its maps.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../src/run/predict.ts';
import { PUBLISH_CHANNEL } from '../src/store/pointer.ts';
import { config, d2, fx, good, rewriteD2, server, setUpGuardrails, t } from './guardrails-fixture.ts';
import { adminUrl, log } from './helpers.ts';
import { get } from './serve-helpers.ts';

setUpGuardrails();

const reader = `bc_forger_${Math.random().toString(36).slice(2, 8)}`;
let readerUrl: string;
let held: number;

beforeAll(async () => {
  // A held run of d2: one feature scaled x1000 (the km x 1000), caught by max_feature_scale_ratio.
  const original = fx.users.get(d2)!;
  await rewriteD2((f) => f.map((v, j) => (j === 1 ? v * 1000 : v)));
  try {
    const r = await predict({ job: fx.job, date: d2, config, db: t.db, log });
    expect(r.status).toBe('held');
    held = r.runId;
  } finally {
    fx.users.set(d2, original);
    await rewriteD2((f) => f);
  }
  await t.db.pool.query(`create role ${reader} login password 'reader-pw'`);
  await t.db.pool.query('select batchcast.grant_lookup_access($1)', [reader]);
  const u = new URL(t.url);
  u.username = reader;
  u.password = 'reader-pw';
  readerUrl = u.toString();
}, 120_000);

afterAll(async () => {
  // runs before the fixture's afterAll (hooks unwind as a stack): the database still exists here
  await t.db.pool.query(`drop owned by ${reader}`).catch(() => {});
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${reader}`);
  } finally {
    await admin.end();
  }
});

const notices = async () => Number(/batchcast_publish_notifications_total (\d+)/.exec((await get(server.url, '/metrics')).body)?.[1] ?? 0);

async function answers(): Promise<string[]> {
  const out: string[] = [];
  for (const user of fx.users.get(d2)!.ids.slice(0, 25)) {
    for (const q of ['', `?date=${d2}`]) {
      const a = await get(server.url, `/v1/jobs/${fx.job}/users/${user}/recommendations${q}`);
      out.push(`${a.status} ${a.body}`);
    }
  }
  return out;
}

describe('a forged publish notice', () => {
  it('sent by the read-only role, naming a held run, does not change one answer', async () => {
    for (const until = Date.now() + 15_000; !server.served.current(fx.job, null); ) {
      expect(Date.now()).toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = await answers();
    expect(before.every((a) => a.startsWith('200 ') && a.includes(`"run_id":${good},`))).toBe(true);
    const latest = (server.served as unknown as { latest: Map<string, unknown> }).latest;
    const tracked = latest.size;
    const heard = await notices();

    const forger = new pg.Client({ connectionString: readerUrl });
    await forger.connect();
    const forged = [
      { job: fx.job, date: '2999-01-01', run_id: held, previous_run_id: good, action: 'publish' },
      { job: fx.job, date: d2, run_id: held, previous_run_id: good, action: 'publish' },
      // and 500 jobs nobody serves: each must be dropped, not remembered
      ...Array.from({ length: 500 }, (_, i) => ({
        job: `nobody-${i}`,
        date: '2999-01-01',
        run_id: held,
        previous_run_id: null,
        action: 'publish',
      })),
    ];
    try {
      for (const n of forged) await forger.query('select pg_notify($1, $2)', [PUBLISH_CHANNEL, JSON.stringify(n)]);
    } finally {
      await forger.end();
    }
    // every notice reached the server, and the re-reads they caused are done
    for (const until = Date.now() + 5_000; (await notices()) < heard + forged.length; ) {
      expect(Date.now()).toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));

    expect(server.served.current(fx.job, null)?.generation.runId).toBe(good);
    expect(await answers()).toEqual(before);
    expect(latest.size).toBe(tracked);
    const { rows } = await t.db.pool.query('select run_id::int from batchcast.published where job = $1 and prediction_date = $2', [
      fx.job,
      d2,
    ]);
    expect(rows).toEqual([{ run_id: good }]);
  }, 60_000);
});
