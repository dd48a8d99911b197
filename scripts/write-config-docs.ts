// `npm run docs:config`: writes docs/configuration.md from the schema in src/config/config-schema.ts.
// test/config.test.ts fails when the committed file is out of date.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configReference } from '../src/config/config-reference.ts';

const file = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
writeFileSync(file, configReference());
process.stdout.write(`wrote ${file}\n`);
