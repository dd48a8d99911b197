// The API keys of `batchcast serve` (batchcast.api_keys, sql/008): made, listed and revoked by
// `batchcast keys`, read by the server every auth.keysRefreshMs. A key is `bck_<key_id>_<secret>`; the
// table keeps its SHA-256 only, so the key is shown once, when it is made.
import { hash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { BadInputError } from '../errors.ts';
import { migrate } from './migrate.ts';
import type { Queryable } from './queryable.ts';

/** What a key may do: each route of the API needs one of these (docs/security.md). */
export const SCOPES = ['lookup', 'score', 'export', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = 'bck_';
/** bck_ + 12 hex digits + _ + 43 base64url characters (32 random bytes). */
const KEY_SHAPE = /^bck_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;
const NAME_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function hashKey(key: string): Buffer {
  return hash('sha256', key, 'buffer'); // one-shot: ~2x faster than createHash for a 60-byte key
}

/** The key id of a string shaped like a key, else undefined (no database needed to refuse garbage). */
export function keyIdOf(key: string): string | undefined {
  return KEY_SHAPE.exec(key)?.[1];
}

export interface ApiKeyRow {
  key_id: string;
  name: string;
  scopes: Scope[];
  rate_limit_per_second: number | null;
  created_at: Date;
  revoked_at: Date | null;
}

export interface ActiveKey {
  keyId: string;
  sha256: Buffer;
  scopes: Scope[];
  rateLimitPerSecond: number | null;
}

export interface NewKey {
  name: string;
  scopes: string[];
  rateLimitPerSecond?: number;
}

function checkNewKey(o: NewKey): Scope[] {
  if (!NAME_SHAPE.test(o.name)) {
    throw new BadInputError(
      `--name ${JSON.stringify(o.name.slice(0, 80))} is not a key name: use 1 to 64 letters, digits, '.', '_' or '-', e.g. --name checkout-app`,
    );
  }
  if (o.scopes.length === 0) throw new BadInputError(`--scope is required: one or more of ${SCOPES.join(', ')}, e.g. --scope lookup`);
  for (const s of o.scopes) {
    if (!(SCOPES as readonly string[]).includes(s))
      throw new BadInputError(`--scope ${JSON.stringify(s.slice(0, 40))} is not a scope; use ${SCOPES.join(', ')}`);
  }
  if (o.rateLimitPerSecond !== undefined && !(Number.isInteger(o.rateLimitPerSecond) && o.rateLimitPerSecond > 0)) {
    throw new BadInputError(`--rate-limit must be a whole number of requests per second above 0 (got ${o.rateLimitPerSecond})`);
  }
  return [...new Set(o.scopes as Scope[])];
}

/** Makes a key; the returned `key` is the only copy there will ever be. */
export async function createApiKey(pool: pg.Pool, o: NewKey): Promise<ApiKeyRow & { key: string }> {
  const scopes = checkNewKey(o);
  await migrate(pool);
  const keyId = randomBytes(6).toString('hex');
  const key = `${KEY_PREFIX}${keyId}_${randomBytes(32).toString('base64url')}`;
  try {
    const { rows } = await pool.query<ApiKeyRow>(
      `insert into batchcast.api_keys (key_id, name, key_sha256, scopes, rate_limit_per_second)
       values ($1, $2, $3, $4, $5)
       returning key_id, name, scopes, rate_limit_per_second, created_at, revoked_at`,
      [keyId, o.name, hashKey(key), scopes, o.rateLimitPerSecond ?? null],
    );
    return { ...rows[0], key };
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw new BadInputError(
        `an active key named ${o.name} exists already; revoke it first (batchcast keys revoke --name ${o.name}) or choose another --name`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Every key, newest first, revoked ones included; never a hash. */
export async function listApiKeys(pool: pg.Pool): Promise<ApiKeyRow[]> {
  await migrate(pool);
  const { rows } = await pool.query<ApiKeyRow>(
    `select key_id, name, scopes, rate_limit_per_second, created_at, revoked_at
       from batchcast.api_keys order by created_at desc, key_id`,
  );
  return rows;
}

/** Revokes the active key with this id or name; `serve` stops accepting it within auth.keysRefreshMs. */
export async function revokeApiKey(pool: pg.Pool, ref: { keyId?: string; name?: string }): Promise<ApiKeyRow> {
  if ((ref.keyId === undefined) === (ref.name === undefined)) throw new BadInputError('give exactly one of --id or --name');
  await migrate(pool);
  const { rows } = await pool.query<ApiKeyRow>(
    `update batchcast.api_keys set revoked_at = now()
      where revoked_at is null and (key_id = $1 or name = $2)
      returning key_id, name, scopes, rate_limit_per_second, created_at, revoked_at`,
    [ref.keyId ?? null, ref.name ?? null],
  );
  if (rows.length === 0) {
    const what = ref.keyId !== undefined ? `id ${ref.keyId}` : `name ${ref.name}`;
    throw new BadInputError(`no active key with ${what}; see batchcast keys list`);
  }
  return rows[0];
}

/** The keys `serve` accepts now. A missing table (migrate not run yet) means no keys. */
export async function readActiveKeys(c: Queryable): Promise<ActiveKey[]> {
  try {
    const { rows } = await c.query<{ key_id: string; key_sha256: Buffer; scopes: Scope[]; rate_limit_per_second: number | null }>(
      'select key_id, key_sha256, scopes, rate_limit_per_second from batchcast.api_keys where revoked_at is null',
    );
    return rows.map((r) => ({ keyId: r.key_id, sha256: r.key_sha256, scopes: r.scopes, rateLimitPerSecond: r.rate_limit_per_second }));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return [];
    throw err;
  }
}
