// Numbered plain SQL files in sql/, applied in order, each once, each in its own transaction.
// Concurrent migrators serialise on an advisory lock, so two runs starting together are safe.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { MIGRATE_LOCK_KEY } from './locks.ts';

const sqlDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

export interface Migration {
  id: number;
  name: string;
  file: string;
}

export function listMigrations(dir = sqlDir): Migration[] {
  const all = readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .map((f) => ({ id: Number(f.split('_')[0]), name: f.replace(/\.sql$/, ''), file: path.join(dir, f) }))
    .sort((a, b) => a.id - b.id);
  // Two files with one number would leave one of them silently unapplied wherever the other ran first.
  const dup = all.find((m, i) => i > 0 && all[i - 1].id === m.id);
  if (dup)
    throw new Error(`sql/ has two migrations numbered ${dup.id} (${all.find((m) => m.id === dup.id)!.name}, ${dup.name}); renumber one`);
  return all;
}

/** Applies what is missing; returns the names applied now. */
export async function migrate(pool: pg.Pool): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATE_LOCK_KEY]);
    await client.query(`create schema if not exists batchcast;
      create table if not exists batchcast.migrations (
        id int primary key, name text not null, applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ id: number }>('select id from batchcast.migrations');
    const done = new Set(rows.map((r) => r.id));
    for (const m of listMigrations()) {
      if (done.has(m.id)) continue;
      try {
        await client.query('begin');
        await client.query(readFileSync(m.file, 'utf8'));
        await client.query('insert into batchcast.migrations (id, name) values ($1, $2)', [m.id, m.name]);
        await client.query('commit');
        applied.push(m.name);
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw new Error(`migration ${m.file} failed: ${(err as Error).message}; nothing from it was applied`, { cause: err });
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATE_LOCK_KEY]).catch(() => {});
    client.release();
  }
  return applied;
}
