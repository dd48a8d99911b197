// The shard function must give the same shard for the same user in TypeScript, DuckDB, PostgreSQL and
// Python, for integer ids (hashed as decimal text) and Unicode strings alike.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString, withDuckDB } from '../src/read/duckdb.ts';
import { parseShard, shardOf, shardPython, shardSql } from '../src/read/shard.ts';
import { adminUrl } from './helpers.ts';

const n = 7; // not a power of two: a wrong modulus or a sign error shows up

// 5,000 integer ids (0, negatives, around 2^31 and 2^32, up to int64's ends) and 5,000 strings of
// valid Unicode (no surrogate halves, no NUL, which PostgreSQL text cannot hold).
function makeIds(): { ints: bigint[]; strings: string[] } {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ints: bigint[] = [0n, 1n, -1n, 2147483647n, 2147483648n, 4294967295n, 4294967296n, 9223372036854775807n, -9223372036854775808n];
  while (ints.length < 5000) {
    const mag = rand() < 0.5 ? BigInt(Math.floor(rand() * 1e6)) : BigInt(Math.floor(rand() * 2 ** 53)) * BigInt(Math.floor(rand() * 1024));
    ints.push(rand() < 0.1 ? -mag : mag);
  }
  const ranges = [
    [0x20, 0x7e],
    [0xa0, 0x2ff],
    [0x370, 0x3ff],
    [0x400, 0x4ff],
    [0x4e00, 0x9fff],
    [0xac00, 0xd7a3],
    [0x1f300, 0x1f6ff],
    [0x10000, 0x1ffff],
  ];
  const strings: string[] = ['', 'a', "o'brien", 'x"y', 'back\\slash', 'tab\there', 'e\u0301', 'ß', '日本語', '👩‍👩‍👧', 'user-1'];
  while (strings.length < 5000) {
    let s = '';
    const len = 1 + Math.floor(rand() * 24);
    for (let i = 0; i < len; i++) {
      const [lo, hi] = ranges[Math.floor(rand() * ranges.length)];
      s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
    strings.push(s);
  }
  return { ints, strings };
}

const { ints, strings } = makeIds();
const expectedInts = ints.map((id) => shardOf(id, n));
const expectedStrings = strings.map((id) => shardOf(id, n));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-shard-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shardOf', () => {
  it('is the first 8 hex digits of md5 as an unsigned integer, mod N', () => {
    // md5('42') = a1d0c6e8...; 0xa1d0c6e8 = 2714814184 (above 2^31: a signed reading would be negative)
    expect(shardOf('42', 100_000)).toBe(2714814184 % 100_000);
    expect(shardOf(42, 7)).toBe(2714814184 % 7);
    expect(shardOf(42n, 7)).toBe(shardOf('42', 7));
    expect(shardOf('anything', 1)).toBe(0);
    expect(() => shardOf(2 ** 53, 4)).toThrow(/pass it as a bigint or as its decimal text/);
    expect(() => shardOf(1.5, 4)).toThrow(/not a whole number/);
  });

  it('spreads ids evenly over the shards', () => {
    const counts = new Array(n).fill(0);
    for (const s of [...expectedInts, ...expectedStrings]) counts[s]++;
    for (const c of counts) expect(Math.abs(c - 10_000 / n)).toBeLessThan(200); // ~4.5 standard deviations
  });
});

describe('the same shard everywhere, for 10,000 ids', () => {
  it('DuckDB', async () => {
    const intFile = path.join(dir, 'ints.json');
    const stringFile = path.join(dir, 'strings.json');
    writeFileSync(intFile, JSON.stringify(ints.map((id, ord) => ({ ord, id: id.toString() }))));
    writeFileSync(stringFile, JSON.stringify(strings.map((id, ord) => ({ ord, id }))));
    const shards = await withDuckDB({}, async (conn) => {
      const read = async (file: string, type: string) => {
        const r = await conn.runAndReadAll(
          `SELECT ${shardSql.duckdb('id', n)} AS shard FROM read_json(${sqlString(file)}, columns = {ord: 'INTEGER', id: '${type}'}) ORDER BY ord`,
        );
        return r.getRows().map((row) => Number(row[0]));
      };
      return { ints: await read(intFile, 'BIGINT'), strings: await read(stringFile, 'VARCHAR') };
    });
    expect(shards.ints).toEqual(expectedInts);
    expect(shards.strings).toEqual(expectedStrings);
  });

  it('PostgreSQL', async () => {
    const client = new pg.Client({ connectionString: adminUrl() });
    await client.connect();
    try {
      const q = async (type: string, values: string[]) => {
        const r = await client.query(
          `SELECT ${shardSql.postgres('id', n)} AS shard FROM unnest($1::${type}[]) WITH ORDINALITY AS t(id, ord) ORDER BY ord`,
          [values],
        );
        return r.rows.map((row) => Number(row.shard));
      };
      expect(await q('bigint', ints.map(String))).toEqual(expectedInts);
      expect(await q('text', strings)).toEqual(expectedStrings);
    } finally {
      await client.end();
    }
  });

  it('Python (the one-liner in the README)', () => {
    const file = path.join(dir, 'ids.json');
    // JSON integers beyond 2^53 are exact in Python's json module, so the int ids stay ints there.
    writeFileSync(file, `{"ints": [${ints.join(',')}], "strings": ${JSON.stringify(strings)}}`);
    const script = [
      'import hashlib, json, sys',
      `n = ${n}`,
      'ids = json.load(open(sys.argv[1], encoding="utf-8"))',
      `print(json.dumps({k: [${shardPython} for uid in v] for k, v in ids.items()}))`,
    ].join('\n');
    const out = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
    expect(out.ints).toEqual(expectedInts);
    expect(out.strings).toEqual(expectedStrings);
  });
});

describe('parseShard (--shard I/N, --shard auto/N)', () => {
  it('reads I/N and auto/N', () => {
    expect(parseShard('0/4', {})).toEqual({ index: 0, count: 4 });
    expect(parseShard('3/4', {})).toEqual({ index: 3, count: 4 });
    expect(parseShard('auto/4', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 4 });
    expect(parseShard('0/1', {})).toEqual({ index: 0, count: 1 });
  });

  it('refuses what cannot be a shard, naming the flag and what to do', () => {
    expect(() => parseShard('4/4', {})).toThrow(/--shard 4\/4: shard index 4 is not below the shard count 4; shards are numbered 0 to 3/);
    expect(() => parseShard('0/0', {})).toThrow(/shard count N must be between 1 and 100000/);
    expect(() => parseShard('1/100001', {})).toThrow(/between 1 and 100000/);
    expect(() => parseShard('1', {})).toThrow(/must be I\/N/);
    expect(() => parseShard('-1/4', {})).toThrow(/must be I\/N/);
    expect(() => parseShard('a/4', {})).toThrow(/must be I\/N/);
    expect(() => parseShard('auto/4', {})).toThrow(
      /JOB_COMPLETION_INDEX is not set; auto\/N only works in a pod of a Kubernetes Indexed Job/,
    );
    expect(() => parseShard('auto/4', { JOB_COMPLETION_INDEX: 'x' })).toThrow(/JOB_COMPLETION_INDEX="x" is not a whole number/);
    expect(() => parseShard('auto/4', { JOB_COMPLETION_INDEX: '4' })).toThrow(
      /JOB_COMPLETION_INDEX=4 is not below the shard count 4.*completions must equal N/,
    );
  });

  it('fails with exit code 2 (bad input)', () => {
    try {
      parseShard('9/2', {});
      expect.unreachable();
    } catch (err) {
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });
});
