// The ETag of a lookup with ?include=attributes covers the items file: after the file is edited (a route
// renamed), a client revalidating with its old ETag gets 200 and the new attributes, not 304 and the stale
// ones. Without include, the ETag stays the run's: the answer does not depend on the file.
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.ts';
import { predict } from '../src/run/predict.ts';
import { createTestDb, log, type TestDb } from './helpers.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let server: TestServer;
let file: string;
let runId: number;

function writeItems(nameOf: (i: number) => string, mtimeSeconds: number): void {
  writeFileSync(file, `idx,item_id,name\n${pub.fx.itemIds.map((id, i) => `${i},${id},${nameOf(i)}`).join('\n')}\n`);
  utimesSync(file, mtimeSeconds, mtimeSeconds); // a later mtime, even within the file system's timestamp granularity
}

beforeAll(async () => {
  t = await createTestDb('etag_attr');
  pub = await publishFixture(t, { name: 'etag', users: 30, items: 20, k: 3 });
  file = path.join(pub.fx.root, 'data', 'etag', 'items-attr.csv');
  writeItems((i) => `route ${i}`, 1_800_000_000);
  const job = JSON.parse(readFileSync(pub.fx.jobFile, 'utf8'));
  writeFileSync(
    path.join(pub.fx.jobsDir, 'etag_attr.json'),
    JSON.stringify({ ...job, items: { ...job.items, path: 'data/etag/items-attr.csv', attributes: ['name'] } }),
  );
  const config = loadConfig({ databaseUrl: t.url, root: pub.fx.root, workers: 1, intraOpThreads: 1 }, {});
  runId = (await predict({ job: 'etag_attr', date: pub.date, config, db: t.db, log })).runId;
  server = await startTestServer(t.url, pub.fx.root);
}, 120_000);
afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

it('an edited items file changes the ETag of answers with attributes, and only of those', async () => {
  const user = pub.fx.users.get(pub.date)!.ids[0];
  const target = `/v1/jobs/etag_attr/users/${encodeURIComponent(user)}/recommendations?include=attributes`;
  const plain = `/v1/jobs/etag_attr/users/${encodeURIComponent(user)}/recommendations`;
  const first = await get(server.url, target);
  expect(first.status).toBe(200);
  expect(first.json.items[0].attributes.name).toMatch(/^route \d+$/);
  const etag = String(first.headers.etag);
  expect((await get(server.url, target, { 'if-none-match': etag })).status).toBe(304);
  const plainTag = String((await get(server.url, plain)).headers.etag);
  expect(plainTag).toBe(`"r${runId}"`);
  expect(etag).not.toBe(plainTag);

  writeItems((i) => `renamed ${i}`, 1_800_000_100);
  await new Promise((r) => setTimeout(r, 1_100)); // the items file is checked at most once a second
  let again = await get(server.url, target, { 'if-none-match': etag });
  for (let i = 0; i < 20 && again.status === 200 && !again.json.items[0].attributes.name.startsWith('renamed'); i++) {
    await new Promise((r) => setTimeout(r, 100)); // the new file is being read
    again = await get(server.url, target, { 'if-none-match': etag });
  }
  expect(again.status).toBe(200);
  expect(again.json.items[0].attributes.name).toMatch(/^renamed \d+$/);
  expect(again.headers.etag).not.toBe(etag);
  expect((await get(server.url, target, { 'if-none-match': String(again.headers.etag) })).status).toBe(304);
  expect((await get(server.url, plain, { 'if-none-match': plainTag })).status).toBe(304);
}, 60_000);
