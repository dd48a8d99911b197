// Where `batchcast init` learns the model's feature order when no --columns is given, besides the model's
// own metadata_props (choose-job.ts): a model card beside the model ("feature_order"), or the examples,
// which settle it by running the model: an order is taken only if the model reproduces their outputs with it.
import { readFileSync } from 'node:fs';
import { BadInputError } from '../errors.ts';
import { compareExamples } from '../infer/check-examples.ts';
import { namesFromMetadata } from '../infer/feature-order.ts';
import type { ModelDescription, TensorInfo } from '../infer/inspect-model.ts';
import { jsonErrorAt, type ModelExample } from '../jobs/load-job.ts';
import { type FeatureFiles, NUMBER_TYPE } from '../read/inspect-files.ts';

/** The fields of a model card init reads (model-info.ts reads version, sha256 and items.count at run time). */
export interface ModelCard {
  feature_order?: string[];
}

const parseJson = (file: string, what: string): unknown => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BadInputError(`${what} ${file} cannot be read (${(err as Error).message})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // the job loader's reader: a line and column, and the trailing comma named
    throw new BadInputError(`${what} ${file} is not valid JSON: ${jsonErrorAt(text, (err as Error).message)}`, { cause: err });
  }
};

export function readCard(file: string): ModelCard {
  const card = parseJson(file, 'model card') as ModelCard;
  const order = card?.feature_order;
  if (order !== undefined && !(Array.isArray(order) && order.length > 0 && order.every((c) => typeof c === 'string')))
    throw new BadInputError(`model card ${file}: "feature_order" must be a non-empty array of column names, in the model's input order`);
  return card ?? {};
}

/** --examples FILE: an array of {"inputs": {column: value}, "outputs": {output: [values]}} (the job schema checks each). */
export function readExamples(file: string, flag: string): ModelExample[] {
  const v = parseJson(file, `--examples ${flag}:`);
  const list = Array.isArray(v) ? v : (v as { examples?: unknown })?.examples;
  if (!Array.isArray(list) || list.length === 0)
    throw new BadInputError(
      `--examples ${flag}: expected a JSON array of {"inputs": {column: value, ...}, "outputs": {output name: [values]}} (docs/jobs.md, "Examples")`,
    );
  return list as ModelExample[];
}

/** The files' number columns in their order, without the user id: one more order to try against the examples. */
export function numberColumns(f: FeatureFiles, o: { userIdColumn?: string }): string[] {
  return f.columns.filter((c) => NUMBER_TYPE.test(c.type) && c.name !== (o.userIdColumn ?? 'user_id')).map((c) => c.name);
}

/** The source bindOrder names when the examples alone chose the order. */
export const EXAMPLES_SOURCE =
  "the examples' outputs are reproduced with it (--examples; tried their own key order, the files' order and its reverse)";

/**
 * The order from the card beside the model, or, when neither the card nor the model's metadata gives one,
 * the first of the examples' own key order, the files' order and its reverse that reproduces the examples.
 * undefined: nothing here knows, and choose-job.ts asks for --columns.
 */
export async function bindOrder(a: {
  features: FeatureFiles;
  model: ModelDescription;
  input: TensorInfo;
  card: ModelCard | undefined;
  cardFile: string;
  examples: ModelExample[] | undefined;
  o: { userIdColumn?: string };
}): Promise<{ columns: string[]; source: string } | undefined> {
  if (a.card?.feature_order) return { columns: a.card.feature_order, source: `from the model card ${a.cardFile} (feature_order)` };
  if (namesFromMetadata(a.model.metadata) || !a.examples) return undefined;
  const numeric = numberColumns(a.features, a.o);
  const width = typeof a.input.shape[1] === 'number' ? a.input.shape[1] : undefined;
  const keys = Object.keys(a.examples[0]?.inputs ?? {}).filter((k) => numeric.includes(k));
  const candidates = [keys, numeric, [...numeric].reverse()].filter((c) => c.length > 0 && (width === undefined || c.length === width));
  if (candidates.length === 0) return undefined;
  const target = (columns: string[]) => ({
    name: '(init)',
    file: '--examples',
    features: { columns, listColumn: undefined, size: columns.length },
    model: { path: a.model.file, inputs: [{ name: a.input.name, columns: undefined }], examples: a.examples! },
  });
  const source = EXAMPLES_SOURCE;
  for (const c of candidates) {
    try {
      const { mismatch, matching } = await compareExamples(target(c));
      if (!mismatch || matching) return { columns: mismatch ? matching! : c, source };
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err; // examples without one of these columns: try the next order
    }
  }
  return undefined;
}
