// What the ledger records about a model: its sha256 and a version (job > model card > hash); and the
// feature order the card or the model's metadata states, checked against features.columns (feature-order.ts).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';
import { checkFeatureOrder } from './feature-order.ts';
import { modelMetadata } from './inspect-model.ts';

export interface ModelInfo {
  version: string;
  sha256: string;
  /** items the model card says the model scores, when it says */
  items: number | undefined;
}

export async function modelInfo(job: JobDefinition): Promise<ModelInfo> {
  const file = job.model.path;
  if (!existsSync(file)) throw new BadInputError(`job ${job.name}: model file ${file} not found; fix model.path in the job or generate it`);
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    chunks.push(chunk as Buffer);
  }
  const sha256 = hash.digest('hex');
  let metadata: Record<string, string> | undefined;
  try {
    metadata = modelMetadata(Buffer.concat(chunks));
  } catch {
    metadata = undefined; // not readable as a ModelProto: ONNX Runtime says so when it loads the file
  }
  let card: { version?: string; sha256?: string; items?: { count?: number }; feature_order?: unknown } = {};
  if (job.model.card) {
    if (!existsSync(job.model.card))
      throw new BadInputError(`job ${job.name}: model card ${job.model.card} not found; fix model.card in the job`);
    try {
      card = JSON.parse(readFileSync(job.model.card, 'utf8'));
    } catch (err) {
      throw new BadInputError(`job ${job.name}: model card ${job.model.card} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (card.sha256 && card.sha256 !== sha256) {
      throw new BadInputError(
        `job ${job.name}: model file ${file} does not match its card ${job.model.card} (sha256 ${sha256.slice(0, 12)}... vs ${card.sha256.slice(0, 12)}...); the model was replaced or is corrupt`,
      );
    }
  }
  checkFeatureOrder(job, { card: card.feature_order, metadata });
  return { version: job.model.version ?? card.version ?? `sha256:${sha256.slice(0, 12)}`, sha256, items: card.items?.count };
}
