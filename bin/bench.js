#!/usr/bin/env node
// `npm run bench -- [--sizes 100000,1000000] [--models heavy,light] [--quick]`: see bench/README.md.
import { register } from 'tsx/esm/api';

register();
await import('../bench/harness/run-bench.ts');
