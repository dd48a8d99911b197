#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so there is no build step between `npm ci` and `npx batchcast`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exit(await main(process.argv));
