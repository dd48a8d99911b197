// How a job's features reach a model and its answers come back, checked against the model's own metadata
// before any work: which inputs take which feature columns (one input of every feature, usually; several
// for models exported with one input per feature), in what float type and shape, at what batch size; and
// which outputs are read. Errors are returned as text for the worker to prefix with the model file.
import * as ort from 'onnxruntime-node';
import type { ModelInput, ModelOutput } from '../jobs/load-job.ts';

export interface BoundInput {
  name: string;
  /** float64 inputs get the features widened from float32 */
  type: 'float32' | 'float64';
  /** [batch] (one column) or [batch, n] */
  rank: 1 | 2;
  /** positions in the feature row; undefined: every feature, in order */
  columns: number[] | undefined;
}

type Session = Pick<ort.InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>;

/** The outputs to fetch, or what is wrong with them. Scores must be float32/64 and indices integers: float16 would be misread. */
export function checkOutputs(session: Session, output: ModelOutput): string[] | string {
  const wanted = output.kind === 'scores' ? [output.name] : [output.values, output.indices];
  for (const name of wanted) {
    if (!session.outputNames.includes(name))
      return `has no output "${name}" (outputs: ${session.outputNames.join(', ')}); fix model.output in the job`;
  }
  const typeOf = (name: string) => {
    const m = session.outputMetadata.find((o) => o.name === name);
    return m?.isTensor ? m.type : 'non-tensor';
  };
  const maps = wanted.filter((n) => typeOf(n) === 'non-tensor').map((n) => `"${n}"`);
  if (maps.length)
    return `output ${maps.join(', ')} is not a tensor (a classifier's ZipMap?); re-export it as a tensor (skl2onnx: options={'zipmap': False})`;
  const scores = output.kind === 'scores' ? output.name : output.values;
  if (!['float32', 'float64'].includes(typeOf(scores)))
    return `output "${scores}" is ${typeOf(scores)}; batchcast reads scores as float32 or float64: end the model with a Cast to float32`;
  if (output.kind === 'top_k' && !['int32', 'int64'].includes(typeOf(output.indices))) {
    return `output "${output.indices}" is ${typeOf(output.indices)}; item indices must be int64 or int32`;
  }
  return wanted;
}

/**
 * The job's inputs checked against the model's: every input fed and known, float, [batch] only for one
 * column. A batch dimension the exporter fixed (torch.onnx.export without dynamic axes) is returned, so the
 * worker runs batches of exactly that size rather than fail.
 */
export function bindInputs(
  session: Session,
  wanted: ModelInput[],
  featureSize: number,
): { inputs: BoundInput[]; fixedBatch: number | undefined } | string {
  const field = wanted.some((i) => i.columns) ? 'model.inputs' : 'model.input';
  const inputs: BoundInput[] = [];
  const batchDims = new Set<number>();
  for (const i of wanted) {
    if (!session.inputNames.includes(i.name))
      return `has no input "${i.name}" (inputs: ${session.inputNames.join(', ')}); fix ${field} in the job`;
    const meta = session.inputMetadata.find((m) => m.name === i.name);
    const type = meta?.isTensor ? meta.type : 'non-tensor';
    if (type !== 'float32' && type !== 'float64') {
      return `input "${i.name}" is ${type}; batchcast feeds the features as float32 (or float64 when the model asks for it): re-export the model with a float input`;
    }
    const shape = meta?.isTensor ? meta.shape : [];
    const width = i.columns?.length ?? featureSize;
    if (shape.length === 1 && width !== 1)
      return `input "${i.name}" is [batch], one value per user, but the job feeds it ${width}; fix ${field} in the job`;
    if (typeof shape[0] === 'number' && shape[0] > 0) batchDims.add(shape[0]);
    inputs.push({ name: i.name, type, rank: shape.length === 1 ? 1 : 2, columns: i.columns });
  }
  const missing = session.inputNames.filter((n) => !wanted.some((i) => i.name === n));
  if (missing.length) {
    return `takes input(s) ${missing.map((n) => `"${n}"`).join(', ')} that the job does not feed (inputs: ${session.inputNames.join(', ')}); fix ${field} in the job`;
  }
  if (batchDims.size > 1)
    return `fixes different batch sizes on its inputs (${[...batchDims].join(', ')}); re-export it with a dynamic batch axis`;
  return { inputs, fixedBatch: batchDims.size ? [...batchDims][0] : undefined };
}

/** The feeds for `n` rows of `x` (rows of `size` features): each input its columns, in its type and rank. */
export function feedsFor(inputs: BoundInput[], x: Float32Array, n: number, size: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of inputs) {
    const width = i.columns?.length ?? size;
    let data: Float32Array | Float64Array = x;
    if (i.columns) {
      const cols = i.columns;
      data = new (i.type === 'float64' ? Float64Array : Float32Array)(n * width);
      for (let r = 0; r < n; r++) for (let j = 0; j < width; j++) data[r * width + j] = x[r * size + cols[j]];
    } else if (i.type === 'float64') data = Float64Array.from(x);
    feeds[i.name] = new ort.Tensor(i.type, data, i.rank === 1 ? [n] : [n, width]);
  }
  return feeds;
}
