// What every command shares: flags -> config -> logger -> database, released in `finally`.
// The configuration (Zod) and the logger (pino) are imported when a command runs: loading them took more
// time than the rest of `batchcast --help` together.

import type { Config, ConfigOverrides } from '../config/load-config.ts';
import type { Db } from '../db/connect.ts';
import { BadInputError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type Command, Option } from './commander.ts';

export interface GlobalFlags {
  databaseUrl?: string;
  json?: boolean;
  quiet?: boolean;
  logLevel?: Config['logLevel'];
  workers?: number;
  threads?: number;
}

export interface Context {
  config: Config;
  log: Logger;
  flags: GlobalFlags;
}

/** Parser for a comma-separated list flag: `--columns a,b,c`. */
export const csv = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Parser for a whole-number flag; the error names the flag. */
export function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new BadInputError(`${name} must be a whole number (got ${JSON.stringify(v)})`);
    return n;
  };
}

export async function context(flags: GlobalFlags, extra: ConfigOverrides = {}): Promise<Context> {
  const [{ loadConfig }, { createLogger }] = await Promise.all([import('../config/load-config.ts'), import('../log.ts')]);
  const overrides: ConfigOverrides = { ...extra };
  if (flags.databaseUrl) overrides.databaseUrl = flags.databaseUrl;
  if (flags.workers) overrides.workers = flags.workers;
  if (flags.threads) overrides.intraOpThreads = flags.threads;
  if (flags.logLevel) overrides.logLevel = flags.logLevel;
  const config = loadConfig(overrides);
  const json = flags.json ?? !process.stderr.isTTY;
  const log = createLogger({ level: flags.quiet ? 'warn' : config.logLevel, json });
  return { config, log, flags };
}

/** Opens the database (embedded when no URL), runs fn, and closes everything in `finally`. */
export async function withDb<T>(ctx: Context, fn: (db: Db) => Promise<T>): Promise<T> {
  const { openDb } = await import('../db/connect.ts'); // pg loads only for commands that use it
  const db = await openDb(ctx.config, { log: (m) => ctx.log.info(m) });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export function globalOptions(cmd: Command): Command {
  return cmd
    .option('--database-url <url>', 'PostgreSQL to use (default: $DATABASE_URL, else the embedded server)')
    .option('--json', 'JSON output and JSON log lines')
    .option('--quiet', 'only warnings and errors')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']));
}
