// `batchcast keys create|list|revoke`: the API keys of `batchcast serve` (docs/security.md).

import type { Command } from '../commander.ts';
import { context, csv, type GlobalFlags, globalOptions, int, withDb } from '../context.ts';

export function keysCommand(program: Command): void {
  const keys = program.command('keys').description('API keys of batchcast serve: create, list, revoke');
  globalOptions(keys.command('create'))
    .description('make an API key and print it once (only its hash is stored)')
    .requiredOption('--name <name>', 'who uses the key, e.g. checkout-app (one active key per name)')
    .requiredOption('--scope <scopes>', 'what it may do, comma-separated: lookup, score, export, metrics', csv)
    .option('--rate-limit <n>', "this key's requests per second (default: no limit of its own)", int('--rate-limit'))
    .action(async (opts: GlobalFlags & { name: string; scope: string[]; rateLimit?: number }) => {
      const { printKeyCreated } = await import('../output/keys.ts');
      const ctx = await context(opts);
      const { createApiKey } = await import('../../store/api-keys.ts');
      const made = await withDb(ctx, (db) =>
        createApiKey(db.pool, { name: opts.name, scopes: opts.scope, rateLimitPerSecond: opts.rateLimit }),
      );
      printKeyCreated(made, opts);
    });
  globalOptions(keys.command('list'))
    .description('every key: id, name, scopes, rate limit, created, revoked (never the key itself)')
    .action(async (opts: GlobalFlags) => {
      const { printKeys } = await import('../output/keys.ts');
      const ctx = await context(opts);
      const { listApiKeys } = await import('../../store/api-keys.ts');
      printKeys(await withDb(ctx, (db) => listApiKeys(db.pool)), opts);
    });
  globalOptions(keys.command('revoke'))
    .description('revoke a key; serve refuses it within auth.keysRefreshMs (5 s)')
    .option('--id <id>', 'the key id (batchcast keys list)')
    .option('--name <name>', 'the name of the active key')
    .action(async (opts: GlobalFlags & { id?: string; name?: string }) => {
      const { printKeyRevoked } = await import('../output/keys.ts');
      const ctx = await context(opts);
      const { revokeApiKey } = await import('../../store/api-keys.ts');
      printKeyRevoked(await withDb(ctx, (db) => revokeApiKey(db.pool, { keyId: opts.id, name: opts.name })), opts);
    });
}
