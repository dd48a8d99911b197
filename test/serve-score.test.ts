// Online scoring (POST /v1/jobs/{job}/score) against real generations: for 1,000 users of a columns job
// and of a list-column job, the online answer equals the published batch answer (ids exactly, scores to
// 1e-6); bad input gets a 400 naming the feature; a full queue gets 503 + Retry-After; a model file that
// no longer matches the published generation is logged and shown in /metrics.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoTowerModel, randomTwoTower } from '../src/demo/build-model.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import {
  closeAgent,
  get,
  type Published,
  post,
  publishFixture,
  recordingLogger,
  startTestServer,
  type TestServer,
} from './serve-helpers.ts';

let t: TestDb;
let cols: Published;
let list: Published;
let server: TestServer;
const logged = recordingLogger();

beforeAll(async () => {
  t = await createTestDb('serve_score');
  // Columns, string ids, the model's TopK; list column, int ids, scores with our top K: both code paths.
  cols = await publishFixture(t, { name: 'score_cols', users: 1000, items: 80, k: 6, batchSize: 64 });
  list = await publishFixture(t, {
    name: 'score_list',
    users: 1000,
    items: 120,
    k: 5,
    featureMode: 'list',
    output: 'scores',
    idType: 'int',
    seed: 23,
  });
  // One server for both jobs: the list job's file, with absolute paths, beside the columns job.
  const job = JSON.parse(readFileSync(list.fx.jobFile, 'utf8'));
  for (const part of [job.features, job.model, job.items]) part.path = path.resolve(list.fx.root, part.path);
  writeFileSync(path.join(cols.fx.jobsDir, 'score_list.json'), JSON.stringify(job));
  server = await startTestServer(t.url, cols.fx.root, {}, logged);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

async function batchAnswers(
  job: string,
  date: string,
): Promise<Map<string, { item_ids: string[]; scores: number[]; model_version: string; run_id: number }>> {
  const { rows } = await t.db.pool.query(
    `select user_id, array_agg(item_id order by rank) as item_ids, array_agg(score order by rank) as scores, min(model_version) as model_version, min(run_id) as run_id
       from batchcast.recommendations where job = $1 and prediction_date = $2 group by user_id`,
    [job, date],
  );
  return new Map(rows.map((r) => [r.user_id, { ...r, run_id: Number(r.run_id) }]));
}

async function scoreAll(pub: Published, body: (i: number) => unknown) {
  const ids = pub.fx.users.get(pub.date)!.ids;
  const answers = [];
  // 32 at a time, so requests meet in batches as they would under load.
  for (let i = 0; i < ids.length; i += 32) {
    answers.push(
      ...(await Promise.all(
        ids.slice(i, i + 32).map((_, j) => post(server.url, `/v1/jobs/${pub.fx.job}/score`, JSON.stringify(body(i + j)))),
      )),
    );
  }
  return answers;
}

describe('online answers equal the batch generation', () => {
  for (const which of ['columns', 'list'] as const) {
    it(`for 1,000 users of a ${which} job`, async () => {
      const pub = which === 'columns' ? cols : list;
      const { ids, features } = pub.fx.users.get(pub.date)!;
      const want = await batchAnswers(pub.fx.job, pub.date);
      expect(want.size).toBe(1000);
      const answers = await scoreAll(pub, (i) => ({
        user_id: ids[i],
        features:
          which === 'columns' ? Object.fromEntries(pub.fx.featureNames.map((n, j) => [n, features[i][j]])) : Array.from(features[i]),
      }));
      answers.forEach((a, i) => {
        const w = want.get(ids[i])!;
        expect(a.status, a.body).toBe(200);
        expect(a.json).toMatchObject({
          job: pub.fx.job,
          user_id: ids[i],
          source: 'online',
          model_version: w.model_version,
          run_id: pub.runId,
          prediction_date: pub.date,
        });
        expect(
          a.json.items.map((x: { item_id: string }) => x.item_id),
          ids[i],
        ).toEqual(w.item_ids);
        expect(a.json.items.map((x: { rank: number }) => x.rank)).toEqual(w.item_ids.map((_, r) => r + 1));
        a.json.items.forEach((x: { score: number }, r: number) =>
          expect(Math.abs(x.score - w.scores[r]), `${ids[i]} rank ${r + 1}`).toBeLessThanOrEqual(1e-6),
        );
      });
    }, 60_000);
  }

  it('batched requests together (dynamic batching), and names the published model as matching', async () => {
    const m = (await get(server.url, '/metrics')).body;
    const count = Number(/^batchcast_score_batch_users_count (\d+)/m.exec(m)?.[1]);
    const sum = Number(/^batchcast_score_batch_users_sum (\d+)/m.exec(m)?.[1]);
    expect(sum).toBeGreaterThanOrEqual(2000);
    expect(count).toBeLessThan(sum); // some batch held more than one user
    expect(m).toMatch(/^batchcast_score_model_mismatch\{job="score_cols"\} 0$/m);
    expect(m).toMatch(/^batchcast_http_requests_total\{route="score",method="POST",status="200"\} \d+/m);
  });
});

describe('bad input', () => {
  const valid = () => Object.fromEntries(cols.fx.featureNames.map((n) => [n, 0.25]));
  const score = (body: unknown, job = 'score_cols') =>
    post(server.url, `/v1/jobs/${job}/score`, typeof body === 'string' ? body : JSON.stringify(body));

  it('a missing, extra, mistyped or non-finite feature gets a 400 naming it', async () => {
    const { f2: _, ...missing } = valid();
    const cases: [unknown, string, RegExp][] = [
      [{ user_id: 'u', features: missing }, 'f2', /feature f2 is missing/],
      [{ user_id: 'u', features: { ...valid(), likes_mud: 1 } }, 'likes_mud', /feature "likes_mud" is not a feature of job score_cols/],
      [
        { user_id: 'u', features: { ...valid(), f1: '0.5' } },
        'f1',
        /feature f1 of job score_cols must be a number or a boolean \(got string\)/,
      ],
      [{ user_id: 'u', features: { ...valid(), f3: null } }, 'f3', /feature f3 is NaN or NULL/],
      // float32 overflow and a JSON number past float64: both Infinity, caught by the run's own bad-row check
      [`{"user_id": "u", "features": {"f0": 1e39, "f1": 0, "f2": 0, "f3": 0, "f4": 0, "f5": 0}}`, 'f0', /feature f0 is Infinity/],
      [`{"user_id": "u", "features": {"f0": 0, "f1": 0, "f2": 0, "f3": 0, "f4": -1e400, "f5": 0}}`, 'f4', /feature f4 is -Infinity/],
    ];
    for (const [body, feature, message] of cases) {
      const a = await score(body);
      expect(a.status, a.body).toBe(400);
      expect(a.json).toMatchObject({ error: 'bad_request', parameter: 'features', feature });
      expect(a.json.message).toMatch(message);
    }
    const lst = await score({ user_id: 7, features: [1, 2, 3] }, 'score_list');
    expect(lst.status).toBe(400);
    expect(lst.json.message).toMatch(/features has 3 values but job score_list takes 6 \(list column features\)/);
    const nul = await score({ user_id: 7, features: [0, 0, null, 0, 0, 0] }, 'score_list');
    expect(nul.json).toMatchObject({ parameter: 'features', feature: 'features[3]' });
    expect(nul.json.message).toMatch(/feature features\[3\] is NaN or NULL/);
  });

  it('a JSON boolean is read as 1 or 0, as a BOOLEAN column is in a run', async () => {
    const asBool = await score({ user_id: 'u', features: { ...valid(), f1: true, f2: false } });
    const asNumber = await score({ user_id: 'u', features: { ...valid(), f1: 1, f2: 0 } });
    expect(asBool.status, asBool.body).toBe(200);
    expect(asBool.json.items).toEqual(asNumber.json.items);
    const other = await score({ user_id: 'u', features: { ...valid(), f1: 0, f2: 1 } });
    expect(other.json.items).not.toEqual(asNumber.json.items);
  });

  it('the body, user id, job, method, query and size are checked, each named', async () => {
    const checks: [Promise<{ status: number; json: any }>, number, string | undefined][] = [
      [score('{"user_id": "u", "features": '), 400, 'body'],
      [score([1, 2]), 400, 'body'],
      [score({ user_id: 'u', features: valid(), extra: 1 }), 400, 'body'],
      [score({ features: valid() }), 400, 'user_id'],
      [score({ user_id: 'a\u0001b', features: valid() }), 400, 'user_id'],
      [score({ user_id: 'x'.repeat(300), features: valid() }), 400, 'user_id'],
      [score({ user_id: 'u', features: [1, 2, 3, 4, 5, 6] }), 400, 'features'],
      [score({ user_id: 'u', features: valid() }, 'nope'), 400, 'job'],
      [post(server.url, '/v1/jobs/score_cols/score?k=3', JSON.stringify({ user_id: 'u', features: valid() })), 400, 'query'],
      [get(server.url, '/v1/jobs/score_cols/score'), 405, undefined],
      [score(JSON.stringify({ user_id: 'u', features: valid(), pad: 'x'.repeat(10_000) })), 413, undefined],
    ];
    for (const [answer, status, parameter] of checks) {
      const a = await answer;
      expect(a.status, JSON.stringify(a.json)).toBe(status);
      expect(a.json.message).toBeTypeOf('string');
      if (parameter) expect(a.json.parameter).toBe(parameter);
    }
    const ok = await score({ user_id: 'new-user', features: valid() });
    expect(ok.status).toBe(200);
    expect(ok.json.items).toHaveLength(6);
  });
});

describe('limits and model checks', () => {
  it('a full queue answers 503 with Retry-After, and the others are still answered', async () => {
    const small = await startTestServer(t.url, cols.fx.root, { scoreMaxQueued: 2 });
    try {
      const body = JSON.stringify({ user_id: 'u', features: Object.fromEntries(cols.fx.featureNames.map((n) => [n, 0.1])) });
      await post(small.url, '/v1/jobs/score_cols/score', body); // starts the scorer
      const answers = await Promise.all(Array.from({ length: 300 }, () => post(small.url, '/v1/jobs/score_cols/score', body)));
      const busy = answers.filter((a) => a.status === 503);
      expect(busy.length).toBeGreaterThan(0);
      expect(busy[0].headers['retry-after']).toBe('1');
      expect(busy[0].json).toMatchObject({ error: 'overloaded' });
      expect(busy[0].json.message).toMatch(/scoring requests already waiting for the model \(serve.scoreMaxQueued\)/);
      expect(answers.filter((a) => a.status === 200).length + busy.length).toBe(300);
    } finally {
      await small.stop();
    }
  });

  it('serve.rateLimitPerSecond applies: 429 with Retry-After', async () => {
    const limited = await startTestServer(t.url, cols.fx.root, { rateLimitPerSecond: 5 });
    try {
      const body = JSON.stringify({ user_id: 'u', features: Object.fromEntries(cols.fx.featureNames.map((n) => [n, 0.1])) });
      const answers = await Promise.all(Array.from({ length: 30 }, () => post(limited.url, '/v1/jobs/score_cols/score', body)));
      const limitedOnes = answers.filter((a) => a.status === 429);
      expect(limitedOnes.length).toBeGreaterThanOrEqual(20);
      expect(limitedOnes[0].headers['retry-after']).toBe('1');
      expect(limitedOnes[0].json.message).toMatch(/over 5 scoring requests per second/);
    } finally {
      await limited.stop();
    }
  });

  it('a model file that cannot be loaded: 500 naming the request id, the reason in the log, retried on the next request', async () => {
    const fx = (await publishFixture(t, { name: 'score_broken', users: 20, items: 30 })).fx;
    const model = path.join(fx.root, 'data', 'score_broken', 'model.onnx');
    const good = readFileSync(model);
    writeFileSync(model, good.subarray(0, 100));
    const lines = recordingLogger();
    const broken = await startTestServer(t.url, fx.root, {}, lines);
    try {
      const body = JSON.stringify({ user_id: 'u', features: Object.fromEntries(fx.featureNames.map((n) => [n, 0.3])) });
      const a = await post(broken.url, '/v1/jobs/score_broken/score', body);
      expect(a.status).toBe(500);
      expect(a.json.message).toMatch(new RegExp(`request id ${a.json.request_id}`));
      const logged = lines.lines.find((l) => l.level === 'warn' && l.fields?.requestId === a.json.request_id);
      expect(String(logged?.fields?.error)).toMatch(/cannot load ONNX model .*model\.onnx/);
      writeFileSync(model, good);
      expect((await post(broken.url, '/v1/jobs/score_broken/score', body)).status).toBe(200);
    } finally {
      await broken.stop();
    }
  });

  it("a model file that differs from the published generation's is logged and shown in /metrics", async () => {
    const fx = (await publishFixture(t, { name: 'score_drift', users: 50, items: 40 })).fx;
    const model = path.join(fx.root, 'data', 'score_drift', 'model.onnx');
    copyFileSync(model, `${model}.published`);
    writeFileSync(
      model,
      buildTwoTowerModel(randomTwoTower({ inputSize: 6, hidden: 12, embedding: 8, items: 40 }, 99), {
        k: 5,
        output: 'top_k',
        version: 'retrained',
      }),
    );
    const lines = recordingLogger();
    const drift = await startTestServer(t.url, fx.root, {}, lines);
    try {
      const a = await post(
        drift.url,
        '/v1/jobs/score_drift/score',
        JSON.stringify({ user_id: 'u', features: Object.fromEntries(fx.featureNames.map((n) => [n, 0.3])) }),
      );
      expect(a.status).toBe(200);
      expect((await get(drift.url, '/metrics')).body).toMatch(/^batchcast_score_model_mismatch\{job="score_drift"\} 1$/m);
      expect(lines.lines.some((l) => l.level === 'warn' && /published generation .* was made with sha256/.test(l.msg))).toBe(true);
      // A changed job file gets a new scorer (here: k 5 -> 3) once the catalogue has re-read it.
      writeFileSync(fx.jobFile, JSON.stringify({ ...JSON.parse(readFileSync(fx.jobFile, 'utf8')), k: 3 }));
      drift.catalogue.reload();
      const b = await post(
        drift.url,
        '/v1/jobs/score_drift/score',
        JSON.stringify({ user_id: 'u', features: Object.fromEntries(fx.featureNames.map((n) => [n, 0.3])) }),
      );
      expect(b.status).toBe(200);
      expect(b.json.items).toHaveLength(3);
      expect(b.json.items.map((x: { item_id: string }) => x.item_id)).toEqual(
        a.json.items.slice(0, 3).map((x: { item_id: string }) => x.item_id),
      );
    } finally {
      await drift.stop();
    }
  });
});
