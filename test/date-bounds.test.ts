// Dates outside years 1 to 9999 are bad input everywhere, caught before PostgreSQL sees them: JavaScript has
// a year 0 and PostgreSQL does not, so `?date=0000-01-01` used to reach the database and answer 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCalendarDay, parseDate } from '../src/dates.ts';
import { createTestDb, type TestDb } from './helpers.ts';
import { runCli } from './run-cli.ts';
import { closeAgent, get, type Published, publishFixture, startTestServer, type TestServer } from './serve-helpers.ts';

let t: TestDb;
let pub: Published;
let server: TestServer;

beforeAll(async () => {
  t = await createTestDb('date_bounds');
  pub = await publishFixture(t, { name: 'bounds' });
  server = await startTestServer(t.url, pub.fx.root);
}, 120_000);
afterAll(async () => {
  await server?.stop();
  closeAgent();
  await t?.drop();
});

it('the parser takes years 0001 to 9999 and names year 0', () => {
  expect(parseDate('0001-01-01')).toBe('0001-01-01');
  expect(parseDate('9999-12-31')).toBe('9999-12-31');
  expect(isCalendarDay('0000-01-01')).toBe(false);
  expect(() => parseDate('0000-01-01', '--date')).toThrow('--date 0000-01-01 is before year 1: use a date in years 0001 to 9999');
  expect(() => parseDate('10000-01-01')).toThrow(/is not a date: use YYYY-MM-DD/);
});

describe('the API answers 400 naming the parameter', () => {
  it.each([
    ['lookup', (job: string) => `/v1/jobs/${job}/users/u/recommendations?date=0000-01-01`],
    ['lookup, Feb 29 of year 0', (job: string) => `/v1/jobs/${job}/users/u/recommendations?date=0000-02-29`],
    ['export', (job: string) => `/v1/jobs/${job}/dates/0000-01-01/export.arrow`],
  ])('%s', async (_name, target) => {
    const a = await get(server.url, target(pub.fx.job));
    expect(a.status).toBe(400);
    expect(a.json).toMatchObject({ parameter: 'date' });
    expect(JSON.stringify(a.json)).toContain('before year 1');
  });

  it('the edges of the range still reach a lookup (404: nothing published then)', async () => {
    for (const d of ['0001-01-01', '9999-12-31']) {
      const a = await get(server.url, `/v1/jobs/${pub.fx.job}/users/u/recommendations?date=${d}`);
      expect(a.status, d).toBe(404);
    }
  });
});

it('the CLI refuses --date 0000-01-01 with exit code 2 before touching the database', async () => {
  const env = { DATABASE_URL: t.url, BATCHCAST_ROOT: pub.fx.root };
  for (const args of [
    ['predict', '--job', pub.fx.job, '--date', '0000-01-01'],
    ['runs', '--date', '0000-01-01'],
    ['backfill', '--job', pub.fx.job, '--from', '0000-12-30', '--to', '0001-01-02'],
  ]) {
    const r = await runCli(args, env);
    expect(r.stderr, args.join(' ')).toContain('before year 1');
    expect(r.code, args.join(' ')).toBe(2);
  }
}, 60_000);
