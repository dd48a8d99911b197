// What `batchcast keys` prints. The key itself is printed once, by create, on stdout alone on its line
// (or in the JSON), so `KEY=$(batchcast keys create ... --quiet)` captures it.
import type { ApiKeyRow } from '../../store/api-keys.ts';
import { formatTable, type OutputFlags } from './text.ts';

const when = (d: Date | null) => (d ? d.toISOString().slice(0, 19).replace('T', ' ') : '');
const limit = (r: ApiKeyRow) => (r.rate_limit_per_second === null ? '' : `${r.rate_limit_per_second}/s`);

export function printKeyCreated(k: ApiKeyRow & { key: string }, flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(k)}\n`);
    return;
  }
  if (flags.quiet) {
    process.stdout.write(`${k.key}\n`);
    return;
  }
  process.stdout.write(
    `${k.key}\n\nkey ${k.key_id} (${k.name}): scopes ${k.scopes.join(', ')}${k.rate_limit_per_second ? `, at most ${k.rate_limit_per_second} requests/s` : ''}.\n` +
      'This is the only time the key is shown: only its hash is stored. Clients send it as\n' +
      '  Authorization: Bearer <key>\n' +
      'A running serve accepts it within auth.keysRefreshMs (5 s).\n',
  );
}

export function printKeys(keys: ApiKeyRow[], flags: OutputFlags): void {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(keys)}\n`);
    return;
  }
  if (!keys.length) {
    if (!flags.quiet) process.stdout.write('no API keys; make one: batchcast keys create --name my-app --scope lookup\n');
    return;
  }
  const rows = keys.map((k) => [k.key_id, k.name, k.scopes.join(','), limit(k), when(k.created_at), when(k.revoked_at)]);
  process.stdout.write(formatTable(['id', 'name', 'scopes', 'rate limit', 'created (UTC)', 'revoked (UTC)'], rows));
}

export function printKeyRevoked(k: ApiKeyRow, flags: OutputFlags): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(k)}\n`);
  else if (!flags.quiet)
    process.stdout.write(`revoked key ${k.key_id} (${k.name}); a running serve refuses it within auth.keysRefreshMs (5 s)\n`);
}
