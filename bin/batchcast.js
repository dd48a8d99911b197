#!/usr/bin/env node
// The CLI runs the JavaScript that `npm run build` compiled into dist/ (`npm ci` builds it through the
// `prepare` script), so a start costs no TypeScript compilation. In a checkout without dist/ (a build
// was skipped), it falls back to running the sources through tsx, a devDependency.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli.js', import.meta.url);
let main;
if (existsSync(compiled)) {
  ({ main } = await import(compiled.href));
} else {
  const { register } = await import('tsx/esm/api').catch(() => {
    process.stderr.write('batchcast: dist/ is missing; run `npm run build` (or `npm ci`, which builds it)\n');
    process.exit(1);
  });
  register();
  ({ main } = await import('../src/cli.ts'));
}
process.exit(await main(process.argv));
