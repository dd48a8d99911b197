// Test plumbing: a database of its own per test file, on the run's PostgreSQL (see global-setup.ts).

import pg from 'pg';
import { inject } from 'vitest';
import { type Config, type ConfigOverrides, loadConfig } from '../src/config/load-config.ts';
import { type Db, openDb } from '../src/db/connect.ts';
import { silentLogger } from '../src/log.ts';

export const log = silentLogger;

export function adminUrl(): string {
  return inject('adminUrl');
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDb {
  url: string;
  db: Db;
  config: Config;
  drop(): Promise<void>;
}

/** Creates database bc_<label>_<random>, opens it, and returns a drop() for afterAll. */
export async function createTestDb(label: string, overrides: ConfigOverrides = {}): Promise<TestDb> {
  const name = `bc_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl(), name);
  const config = loadConfig({ databaseUrl: url, ...overrides }, {});
  const db = await openDb(config, { poolSize: 6 });
  return {
    url,
    db,
    config,
    async drop() {
      await db.close();
      const a = new pg.Client({ connectionString: adminUrl() });
      await a.connect();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
