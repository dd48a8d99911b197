// `npm run schema`: writes schema/job.schema.json from the Zod schema in src/jobs/job-schema.ts.
// test/job-schema.test.ts fails when the committed file is out of date.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jobJsonSchema } from '../src/jobs/job-schema.ts';

const file = fileURLToPath(new URL('../schema/job.schema.json', import.meta.url));
writeFileSync(file, JSON.stringify(jobJsonSchema(), null, 2) + '\n');
process.stdout.write(`wrote ${file}\n`);
