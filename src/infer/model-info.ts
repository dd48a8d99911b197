// What the ledger records about a model: its sha256 and a version (job > model card > hash).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import type { JobDefinition } from '../jobs/load-job.ts';
import { BadInputError } from '../errors.ts';

export interface ModelInfo { version: string; sha256: string }

export async function modelInfo(job: JobDefinition): Promise<ModelInfo> {
  const file = job.model.path;
  if (!existsSync(file)) throw new BadInputError(`job ${job.name}: model file ${file} not found; fix model.path in the job or generate it`);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  let version = job.model.version;
  if (!version && job.model.card && existsSync(job.model.card)) {
    try {
      version = (JSON.parse(readFileSync(job.model.card, 'utf8')) as { version?: string }).version;
    } catch (err) {
      throw new BadInputError(`job ${job.name}: model card ${job.model.card} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  return { version: version ?? `sha256:${sha256.slice(0, 12)}`, sha256 };
}
