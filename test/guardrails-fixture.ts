// What guardrails.test.ts shares: a database, a two-date fixture with both dates published, an API
// server, a candidate model that gives everyone the same items, and helpers that read what is served.
// The bindings are live: the test file reads them after setUpGuardrails' beforeAll has filled them.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { type Config, loadConfig } from '../src/config/load-config.ts';
import { buildTwoTowerModel } from '../src/demo/build-model.ts';
import { predict } from '../src/run/predict.ts';
import { type Fixture, makeFixture, writeFeatures } from './fixtures.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, startTestServer, type TestServer } from './serve-helpers.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'batchcast.js');
export const [d1, d2] = ['2026-11-19', '2026-11-20'];
export let t: TestDb;
export let fx: Fixture;
export let config: Config;
export let server: TestServer;
export let good: number; // the published run of d2
export let modelFile: string;
export let sameItemsModel: string;

export function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DATABASE_URL: t.url, BATCHCAST_ROOT: fx.root, BATCHCAST_WORKERS: '1' }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Rewrites d2's partition with `change` applied to every user's features. */
export async function rewriteD2(change: (f: number[]) => number[]): Promise<void> {
  const { ids, features } = fx.users.get(d2)!;
  const rows = ids.map((id, i) => ({ id, features: change(Array.from(features[i])) }));
  const half = Math.ceil(rows.length / 2);
  for (const [n, part] of [rows.slice(0, half), rows.slice(half)].entries()) {
    await writeFeatures(path.join(fx.featuresDir, `dt=${d2}`, `part-${n}.parquet`), part, {
      idType: 'int',
      featureMode: 'columns',
      featureNames: fx.featureNames,
    });
  }
}

/**
 * What readers see for d2: the view's run ids, and the API's answer for one user. The API learns of a
 * publish by NOTIFY, a few ms after the commit (another connection), so it is asked again for up to 2 s
 * until it names the view's run; an API that kept serving another run still differs after that.
 */
export async function served(): Promise<{ view: number[]; api: number }> {
  const { rows } = await t.db.pool.query<{ run_id: number }>(
    'select distinct run_id::int from batchcast.recommendations where job = $1 and prediction_date = $2',
    [fx.job, d2],
  );
  const view = rows.map((r) => r.run_id);
  const user = fx.users.get(d2)!.ids[3];
  const target = `/v1/jobs/${fx.job}/users/${user}/recommendations?date=${d2}`;
  for (const until = Date.now() + 2_000; ; ) {
    // a kept-alive socket the server closed while a long predict ran: ask again on a fresh one
    const a = await get(server.url, target).catch(() => get(server.url, target));
    expect(a.status).toBe(200);
    if ((view.length === 1 && a.json.run_id === view[0]) || Date.now() > until) return { view, api: a.json.run_id };
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runOf(runId: number) {
  const { rows } = await t.db.pool.query('select status, error, model_path from batchcast.runs where run_id = $1', [runId]);
  return rows[0];
}

/** The database, the fixture and the server every test of guardrails.test.ts shares: d1 and d2 published. */
export function setUpGuardrails(): void {
  beforeAll(async () => {
    t = await createTestDb('guard');
    fx = await makeFixture({
      name: 'guard',
      idType: 'int',
      output: 'top_k',
      featureMode: 'columns',
      users: 600,
      items: 60,
      k: 5,
      dates: [d1, d2],
      job: { retention: { keep: 10 } },
    });
    config = loadConfig({ databaseUrl: t.url, root: fx.root, workers: 1, intraOpThreads: 1 }, {});
    modelFile = path.join(fx.root, 'data', fx.job, 'model.onnx');
    // Zero user tower: every user gets the same embedding, so the same top K.
    const w = fx.weights;
    sameItemsModel = path.join(fx.root, 'same-items.onnx');
    writeFileSync(
      sameItemsModel,
      buildTwoTowerModel(
        { ...w, w1: new Float32Array(w.w1.length), w2: new Float32Array(w.w2.length) },
        { k: fx.k, output: 'top_k', version: 'same-items' },
      ),
    );
    const first = await predict({ job: fx.job, date: d1, config, db: t.db, log });
    expect(first.guard.line ?? '').toBe('');
    expect(first.status).toBe('published');
    const second = await predict({ job: fx.job, date: d2, config, db: t.db, log });
    expect(second.status).toBe('published');
    good = second.runId;
    server = await startTestServer(t.url, fx.root);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    closeAgent();
    await t?.drop();
  });
}
