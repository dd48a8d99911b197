#!/usr/bin/env node
// The CLI runs the JavaScript that `npm run build` compiled into dist/ (`npm ci` builds it through the
// `prepare` script), so a start costs no TypeScript compilation. In a checkout where src/ changed since
// the last build, or without dist/, it runs the sources through tsx (a devDependency) instead, so an
// edit is never silently ignored; `npm run build` makes it fast again. The check stats src/'s files and
// folders (~170): ~4 ms.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// written by `npm run build` after tsc (tsc itself leaves its files alone when nothing changed)
const built = fileURLToPath(new URL('../dist/.built', import.meta.url));
const src = fileURLToPath(new URL('../src', import.meta.url));

// Whether dir or anything under it changed after `at` (a folder's time changes when an entry in it is added,
// removed or renamed). A walk by hand: readdirSync's `recursive` option stats every entry once more (about
// twice the stat calls, 3x the time).
function changedSince(at, dir) {
  if (statSync(dir).mtimeMs > at) return true;
  return readdirSync(dir, { withFileTypes: true }).some((e) =>
    e.isDirectory() ? changedSince(at, `${dir}/${e.name}`) : statSync(`${dir}/${e.name}`).mtimeMs > at,
  );
}

function stale() {
  if (!existsSync(built)) return true;
  if (!existsSync(src)) return false;
  return changedSince(statSync(built).mtimeMs, src);
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
