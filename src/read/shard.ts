// The shard function: which of N shards a user belongs to, the same in every system that may have to
// reproduce it (this process, DuckDB, PostgreSQL, a Python notebook):
//
//   shard = first 8 hex digits of md5(user id as UTF-8 text), read as an unsigned 32-bit integer, mod N
//
// An integer user id is hashed as its decimal text (42 -> md5('42')). DuckDB's hash() is not used: it
// changes between versions (duckdb #17596), and a shard must not move when the library is upgraded.
// Cost per id (bench/experiments/shard-bench.ts, CPU time): 0.24 us in DuckDB on one thread, 2.1 us in JavaScript
// (a createHash per id). A sharded run should therefore filter in DuckDB's scan, not per row in JS: every
// shard still reads the whole partition and hashes every id, ~24 s of one core per 100M users per shard.
//
//   DuckDB:     (('0x' || substr(md5(CAST(id AS VARCHAR)), 1, 8))::UBIGINT % N)
//   PostgreSQL: (('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint % N)
//               (bit(32)::bigint reads the 32 bits unsigned; bit(32)::int would be signed and wrong)
//   Python:     int(hashlib.md5(str(uid).encode()).hexdigest()[:8], 16) % n
import { createHash } from 'node:crypto';
import { BadInputError } from '../errors.ts';

/** Kubernetes caps an Indexed Job with backoffLimitPerIndex at 100,000 completions. */
export const maxShards = 100_000;

/** The shard of one user id, 0 <= shard < n. */
export function shardOf(userId: string | number | bigint, n: number): number {
  checkCount(n);
  if (typeof userId === 'number' && !Number.isSafeInteger(userId)) {
    // 2**53 + 1 would hash as "9007199254740992": another user's shard. Ids that large come as bigint or text.
    throw new BadInputError(`user id ${userId} is not a whole number below 2^53; pass it as a bigint or as its decimal text`);
  }
  const digest = createHash('md5').update(String(userId), 'utf8').digest();
  return digest.readUInt32BE(0) % n;
}

/**
 * The same function as SQL, over `expr` (SQL text of a column or expression, already quoted by the caller:
 * an identifier passed through sqlIdent, never user text). n is checked to be a whole number, so the only
 * thing pasted in besides expr is digits.
 */
export const shardSql = {
  duckdb: (expr: string, n: number): string => {
    checkCount(n);
    return `(('0x' || substr(md5(CAST(${expr} AS VARCHAR)), 1, 8))::UBIGINT % ${n})`;
  },
  postgres: (expr: string, n: number): string => {
    checkCount(n);
    return `(('x' || substr(md5((${expr})::text), 1, 8))::bit(32)::bigint % ${n})`;
  },
};

/** The same function in Python, for the manual (docs/kubernetes-and-sharding.md) and for anyone checking a shard by hand. */
export const shardPython = 'int(hashlib.md5(str(uid).encode()).hexdigest()[:8], 16) % n';

export interface Shard {
  /** 0-based: 0 <= index < count. */
  index: number;
  count: number;
}

/**
 * Parses `--shard I/N` or `--shard auto/N`; with auto, I comes from Kubernetes' JOB_COMPLETION_INDEX
 * (set in every pod of an Indexed Job). Every error names the flag and says what to do.
 */
export function parseShard(arg: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^\s*(auto|\d+)\s*\/\s*(\d+)\s*$/.exec(arg);
  if (!m) {
    throw new BadInputError(
      `--shard ${JSON.stringify(arg)} must be I/N (shard I of N, counted from 0, e.g. 0/4) or auto/N (I from JOB_COMPLETION_INDEX)`,
    );
  }
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || count > maxShards) {
    throw new BadInputError(`--shard ${arg}: the shard count N must be between 1 and ${maxShards} (got ${m[2]})`);
  }
  let indexText = m[1];
  if (indexText === 'auto') {
    const fromEnv = env.JOB_COMPLETION_INDEX;
    if (fromEnv === undefined || fromEnv === '') {
      throw new BadInputError(
        `--shard ${arg}: JOB_COMPLETION_INDEX is not set; auto/N only works in a pod of a Kubernetes Indexed Job (completionMode: Indexed); elsewhere give the index, e.g. --shard 0/${count}`,
      );
    }
    if (!/^\d+$/.test(fromEnv)) {
      throw new BadInputError(`--shard ${arg}: JOB_COMPLETION_INDEX=${JSON.stringify(fromEnv)} is not a whole number`);
    }
    indexText = fromEnv;
  }
  const index = Number(indexText);
  if (!Number.isSafeInteger(index) || index >= count) {
    const source = m[1] === 'auto' ? `JOB_COMPLETION_INDEX=${indexText}` : `shard index ${indexText}`;
    throw new BadInputError(
      `--shard ${arg}: ${source} is not below the shard count ${count}; shards are numbered 0 to ${count - 1}${m[1] === 'auto' ? " (the Job's completions must equal N)" : ''}`,
    );
  }
  return { index, count };
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > maxShards) {
    throw new BadInputError(`shard count must be a whole number from 1 to ${maxShards} (got ${n})`);
  }
}
