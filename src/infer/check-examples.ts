// The job's examples (model.examples: rows of inputs with the outputs the training code computed, as
// MLflow's input examples) run through the model before a run's expensive part. A features.columns order
// that is not the model's passes every other check and publishes wrong recommendations; on the examples it
// shows. When they disagree, the other orders at hand (reversed, the examples' own key order, the ones the
// caller knows: model metadata, the files) are tried, so the error can name the order that does match.
import { BadInputError } from '../errors.ts';
import type { JobDefinition, ModelExample } from '../jobs/load-job.ts';

/** What the check needs of a job; init passes one before the job file exists. */
export interface ExampleTarget {
  name: string;
  file: string;
  features: Pick<JobDefinition['features'], 'columns' | 'listColumn' | 'size'>;
  model: Pick<JobDefinition['model'], 'path' | 'inputs' | 'examples'>;
  /** init checks a job it has not written yet: the fix is a flag, not an edit of the file */
  duringInit?: boolean;
}

/**
 * numpy.allclose with rtol 1e-4, atol 1e-5 (10x numpy's default rtol): float32 models exported from float64
 * training code differ by ~1e-6 relative; a looser tolerance let two similar features swap unnoticed.
 */
export const EXAMPLE_TOLERANCE = { absolute: 1e-5, relative: 1e-4 };
export const TOLERANCE_TEXT = 'floats within 1e-5 + 1e-4 x |expected|, integers exactly';

export interface ExamplesChecked {
  examples: number;
  outputs: string[];
  /**
   * Orders next to the job's (its reverse, each two neighbours swapped) that reproduce the examples as well:
   * the examples cannot tell them apart (e.g. "f01 and f02 swapped"); empty when they can.
   */
  indistinct: string[];
}

/** The job's feature row as names: its columns, or `list[i]` for a list column. */
function jobOrder(t: ExampleTarget): string[] {
  const l = t.features.listColumn;
  return l === undefined ? [...t.features.columns] : Array.from({ length: t.features.size }, (_, i) => `${l}[${i}]`);
}

function featureValue(t: ExampleTarget, e: ModelExample, at: number, name: string): number {
  const l = t.features.listColumn;
  const bad = (what: string) =>
    new BadInputError(
      `job ${t.name}: example ${at + 1} of model.examples ${what}; each example gives every feature by column name (docs/jobs.md, "Examples")`,
    );
  if (l !== undefined) {
    const list = e.inputs[l];
    if (!Array.isArray(list) || list.length !== t.features.size)
      throw bad(`needs list column "${l}" as an array of ${t.features.size} numbers`);
    return list[Number(name.slice(l.length + 1, -1))];
  }
  const v = e.inputs[name];
  if (typeof v !== 'number')
    throw bad(v === undefined ? `has no value for column "${name}"` : `gives column "${name}" a list, not a number`);
  return v;
}

/** Orders to try when the job's does not reproduce the examples: each a permutation of the job's own. */
function otherOrders(t: ExampleTarget, known: string[][]): string[][] {
  const own = jobOrder(t);
  const same = new Set(own);
  const keys = Object.keys(t.model.examples[0]?.inputs ?? {}).filter((k) => same.has(k));
  const out: string[][] = [];
  for (const o of [...known, keys, [...own].reverse()]) {
    if (o.length !== own.length || !o.every((c) => same.has(c)) || new Set(o).size !== o.length) continue;
    if ([own, ...out].some((p) => p.join('\0') === o.join('\0'))) continue;
    out.push(o);
  }
  return out;
}

/** The orders a wrong features.columns most often is: the reverse, and two neighbours swapped. */
function neighbours(t: ExampleTarget, own: string[]): { order: string[]; what: string }[] {
  if (t.features.listColumn !== undefined || own.length < 2) return [];
  const out = own.length > 2 ? [{ order: [...own].reverse(), what: 'the reverse order' }] : [];
  for (let i = 0; i + 1 < own.length; i++) {
    const order = [...own];
    [order[i], order[i + 1]] = [order[i + 1], order[i]];
    out.push({ order, what: `${own[i]} and ${own[i + 1]} swapped` });
  }
  return out;
}

/** The note init and --dry-run print when the examples cannot tell the job's order from a neighbour of it. */
export function indistinctNote(c: ExamplesChecked): string | undefined {
  if (!c.indistinct.length) return undefined;
  return (
    `the examples are reproduced just as well with ${c.indistinct.slice(0, 5).join('; ')}${c.indistinct.length > 5 ? ` and ${c.indistinct.length - 5} more` : ''}, ` +
    'so they cannot tell those orders apart: add example rows where those features have clearly different values (docs/jobs.md, "Examples")'
  );
}

type Outcome = { ok: true } | { ok: false; at: number; output: string; index: number; got: number; want: number };

/**
 * Runs the examples through the model with the job's order, and with the other orders when that fails.
 * Returns the first mismatch for the job's order (undefined when it matches) and the first other order that matches.
 */
export async function compareExamples(
  t: ExampleTarget,
  known: string[][] = [],
): Promise<{ checked: ExamplesChecked; mismatch: Extract<Outcome, { ok: false }> | undefined; matching: string[] | undefined }> {
  const ort = await import('onnxruntime-node');
  const { bindInputs, feedsFor } = await import('./model-io.ts');
  const session = await ort.InferenceSession.create(t.model.path, { executionProviders: ['cpu'], intraOpNumThreads: 1 }).catch(
    (err: Error) => {
      throw new BadInputError(
        `job ${t.name}: cannot load ONNX model ${t.model.path} to check its examples (${err.message.split('\n')[0]}); check the file is a complete .onnx model`,
        { cause: err },
      );
    },
  );
  try {
    const bound = bindInputs(session, t.model.inputs, t.features.size);
    if (typeof bound === 'string') throw new BadInputError(`job ${t.name}: model ${t.model.path} ${bound}`);
    const examples = t.model.examples;
    const outputs = [...new Set(examples.flatMap((e) => Object.keys(e.outputs)))];
    for (const name of outputs) {
      if (!session.outputNames.includes(name))
        throw new BadInputError(
          `job ${t.name}: model.examples give output "${name}", which the model does not have (outputs: ${session.outputNames.join(', ')}); name the outputs as the model does`,
        );
    }
    const own = jobOrder(t);
    const size = t.features.size;
    // One example per call, padded to the batch size the model fixes (1 for a dynamic batch axis).
    const batch = bound.fixedBatch ?? 1;
    const run = async (order: string[]): Promise<Outcome> => {
      for (const [at, e] of examples.entries()) {
        const x = new Float32Array(batch * size);
        for (let j = 0; j < size; j++) x[j] = featureValue(t, e, at, order[j]);
        const out = await session.run(feedsFor(bound.inputs, x, batch, size), Object.keys(e.outputs));
        for (const [name, want] of Object.entries(e.outputs)) {
          const tensor = out[name];
          const perRow = tensor.data.length / batch;
          if (want.length !== perRow)
            throw new BadInputError(
              `job ${t.name}: example ${at + 1} of model.examples gives ${want.length} value(s) for output "${name}" but the model returns ${perRow} per row; give one row's whole output`,
            );
          const integer = /int/.test(tensor.type);
          for (let i = 0; i < perRow; i++) {
            const got = Number(tensor.data[i] as number | bigint);
            const ok = integer
              ? got === want[i]
              : Math.abs(got - want[i]) <= EXAMPLE_TOLERANCE.absolute + EXAMPLE_TOLERANCE.relative * Math.abs(want[i]);
            if (!ok) return { ok: false, at, output: name, index: i, got, want: want[i] };
          }
        }
      }
      return { ok: true };
    };
    const checked: ExamplesChecked = { examples: examples.length, outputs, indistinct: [] };
    const first = await run(own);
    if (first.ok) {
      for (const n of neighbours(t, own)) if ((await run(n.order)).ok) checked.indistinct.push(n.what);
      return { checked, mismatch: undefined, matching: undefined };
    }
    for (const order of otherOrders(t, known)) if ((await run(order)).ok) return { checked, mismatch: first, matching: order };
    return { checked, mismatch: first, matching: undefined };
  } finally {
    await session.release();
  }
}

const orderText = (o: string[]) => o.join(',');

/** The job's order does not reproduce its examples: the orders, for callers that answer without the file paths (serve). */
export class ExamplesMismatchError extends BadInputError {
  override name = 'ExamplesMismatchError';
  constructor(
    message: string,
    readonly job: string,
    readonly jobOrder: string[],
    /** the other order that reproduces the examples, when one does */
    readonly matching: string[] | undefined,
  ) {
    super(message);
  }
}

/**
 * The check stage's examples check (predict, every shard, --dry-run, init): passes when the job has no
 * examples or the model reproduces them; otherwise a BadInputError naming the job's order and, when one
 * of the other orders reproduces them, that order.
 */
export async function checkExamples(t: ExampleTarget, known: string[][] = []): Promise<ExamplesChecked | undefined> {
  if (t.model.examples.length === 0) return undefined;
  const { checked, mismatch: m, matching } = await compareExamples(t, known);
  if (!m) return checked;
  const n = `${checked.examples} example(s)`;
  const fix =
    t.features.listColumn === undefined
      ? t.duringInit
        ? "pass --columns in the model's order"
        : `set features.columns in ${t.file} to the model's order (or init again with --columns in that order)`
      : `the list column's values are not in the model's order: fix the export or the model`;
  if (matching) {
    throw new ExamplesMismatchError(
      `job ${t.name}: the model's outputs on the job's ${n} match the column order ${orderText(matching)}, not the job's ${orderText(jobOrder(t))}; ${fix}`,
      t.name,
      jobOrder(t),
      matching,
    );
  }
  throw new ExamplesMismatchError(
    `job ${t.name}: the model does not reproduce example ${m.at + 1} of ${checked.examples}: output "${m.output}"[${m.index}] is ${m.got} where the example says ${m.want} ` +
      `(${TOLERANCE_TEXT}) with the job's column order ${orderText(jobOrder(t))}, and no other order tried matches either. ` +
      'Check features.columns against the order the training code fed the model, and that the examples were computed by this model file',
    t.name,
    jobOrder(t),
    undefined,
  );
}
