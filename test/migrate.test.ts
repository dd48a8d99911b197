// Migrations: numbered files applied once each, in order, recorded; rerunning is a no-op; concurrent
// migrators do not trip over each other; two files with one number are refused.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../src/store/migrate.ts';
import { createTestDb, type TestDb } from './helpers.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb('migrate');
});
afterAll(async () => {
  await t?.drop();
});

describe('migrate', () => {
  it('applies every file once, in order, even when several processes migrate at once', async () => {
    const all = listMigrations().map((m) => m.name);
    expect(all[0]).toBe('001_runs_and_predictions');
    const results = await Promise.all([migrate(t.db.pool), migrate(t.db.pool), migrate(t.db.pool)]);
    expect(results.flat().sort()).toEqual(all);
    expect(await migrate(t.db.pool)).toEqual([]);
    const { rows } = await t.db.pool.query('select id, name from batchcast.migrations order by id');
    expect(rows.map((r) => r.name)).toEqual(all);
    const view = await t.db.pool.query(`select to_regclass('batchcast.recommendations') is not null as ok`);
    expect(view.rows[0].ok).toBe(true);
  });

  it('refuses two migrations with the same number', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-sql-'));
    writeFileSync(path.join(dir, '001_a.sql'), 'select 1');
    writeFileSync(path.join(dir, '002_b.sql'), 'select 1');
    writeFileSync(path.join(dir, '002_c.sql'), 'select 1');
    expect(() => listMigrations(dir)).toThrow(/two migrations numbered 2 \(002_b, 002_c\); renumber one/);
  });
});
