#!/usr/bin/env node
// The CLI runs the JavaScript that `npm run build` compiled into dist/ (`npm ci` builds it through the
// `prepare` script), so a start costs no TypeScript compilation. In a checkout where src/ changed since
// the last build, or without dist/, it runs the sources through tsx (a devDependency) instead, so an
// edit is never silently ignored; `npm run build` makes it fast again. The check stats ~80 files: ~1 ms.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// written by `npm run build` after tsc (tsc itself leaves its files alone when nothing changed)
const built = fileURLToPath(new URL('../dist/.built', import.meta.url));
const src = fileURLToPath(new URL('../src', import.meta.url));

function stale() {
  if (!existsSync(built)) return true;
  if (!existsSync(src)) return false;
  const at = statSync(built).mtimeMs;
  return readdirSync(src, { recursive: true }).some((f) => statSync(`${src}/${f}`).mtimeMs > at);
}

let main;
if (!stale()) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const tsx = await import('tsx/esm/api').catch(() => undefined);
  if (!tsx) {
    process.stderr.write('batchcast: dist/ is missing or older than src/; run `npm run build` (npm ci runs it)\n');
    process.exit(1);
  }
  tsx.register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exit(await main(process.argv));
