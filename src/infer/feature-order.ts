// The feature order a model states about itself, in its metadata_props or in its model card
// ("feature_order"), against the job's features.columns. init takes the order from them; every run
// (predict, each shard, --dry-run, serve's scorer, through model-info.ts) checks it again, so a retrain
// that ships a card or a model with another order fails before a row is scored instead of publishing
// scores of shuffled features.
import { BadInputError } from '../errors.ts';
import type { JobDefinition } from '../jobs/load-job.ts';

export const FEATURE_ORDER_KEYS = ['feature_order', 'feature_names', 'features', 'columns', 'input_columns'];

/** Feature names the exporter stored in the model's metadata_props, as a JSON array or comma-separated. */
export function namesFromMetadata(meta: Record<string, string>): string[] | undefined {
  for (const key of FEATURE_ORDER_KEYS) {
    const v = meta[key]?.trim();
    if (!v) continue;
    try {
      const parsed = JSON.parse(v);
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed;
    } catch {
      return v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }
  }
  return undefined;
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((c, i) => c === b[i]);

/**
 * Fails (exit 2) when the card's feature_order, or the metadata's names when they are the job's columns in
 * another order, differ from features.columns. Jobs with a list column or several model inputs (their
 * order is the export's or model.inputs') are not compared; metadata names that are not the job's columns
 * (a renamed export) are left to the examples.
 */
export function checkFeatureOrder(job: JobDefinition, stated: { card?: unknown; metadata?: Record<string, string> }): void {
  if (job.features.listColumn !== undefined || job.model.inputs.some((i) => i.columns !== undefined)) return;
  const own = [...job.features.columns];
  const fail = (order: string[], where: string) =>
    new BadInputError(
      `job ${job.name}: ${where} gives the feature order ${order.join(',')}, but features.columns is ${own.join(',')}; ` +
        "the model was retrained or replaced with another order: set features.columns in the job to the model's order (or fix the card), and check with predict --dry-run",
    );
  if (stated.card !== undefined) {
    const order = stated.card;
    if (!Array.isArray(order) || !order.every((c) => typeof c === 'string'))
      throw new BadInputError(
        `job ${job.name}: model card ${job.model.card}: "feature_order" must be an array of column names, in the model's input order`,
      );
    if (!same(order, own)) throw fail(order, `model card ${job.model.card} (feature_order)`);
  }
  const names = stated.metadata && namesFromMetadata(stated.metadata);
  if (
    names &&
    names.length === own.length &&
    new Set(names).size === own.length &&
    names.every((c) => own.includes(c)) &&
    !same(names, own)
  )
    throw fail(names, `model ${job.model.path} (its metadata_props)`);
}
