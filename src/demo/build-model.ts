// A two-tower recommender as an ONNX graph: user MLP -> user embedding, dot item embeddings -> scores,
// ending in a TopK node (or returning all scores, for jobs that take the top K themselves).
import { DataType, writeModel, type Node } from './onnx-writer.ts';
import { gaussian, rng } from './random.ts';

export interface TwoTowerWeights {
  inputSize: number;
  hidden: number;
  embedding: number;
  items: number;
  /** [inputSize x hidden], row-major */
  w1: Float32Array;
  b1: Float32Array;
  /** [hidden x embedding], row-major */
  w2: Float32Array;
  b2: Float32Array;
  /** item embeddings, transposed: [embedding x items], row-major */
  itemsT: Float32Array;
  /** per-item bias added to every score, [items] */
  itemBias: Float32Array;
}

export interface ModelOptions {
  k: number;
  output: 'top_k' | 'scores';
  inputName?: string;
  /** output tensor names, as an exporter might choose them (default top_scores/top_indices, or scores) */
  outputNames?: { values: string; indices: string } | { scores: string };
  /** name of the symbolic batch dimension (PyTorch's exporter: e.g. "batch_size") */
  batchDim?: string;
  /** extra metadata_props, e.g. feature_names */
  metadata?: Record<string, string>;
  version: string;
  name?: string;
}

export function randomTwoTower(shape: { inputSize: number; hidden: number; embedding: number; items: number }, seed: number): TwoTowerWeights {
  const next = rng(seed);
  const fill = (n: number, sd: number) => Float32Array.from({ length: n }, () => gaussian(next, sd));
  return {
    ...shape,
    w1: fill(shape.inputSize * shape.hidden, Math.sqrt(2 / shape.inputSize)),
    b1: fill(shape.hidden, 0.1),
    w2: fill(shape.hidden * shape.embedding, Math.sqrt(1 / shape.hidden)),
    b2: fill(shape.embedding, 0.1),
    itemsT: fill(shape.embedding * shape.items, 1 / Math.sqrt(shape.embedding)),
    itemBias: fill(shape.items, 0.05),
  };
}

export function buildTwoTowerModel(w: TwoTowerWeights, opts: ModelOptions): Buffer {
  const input = opts.inputName ?? 'features';
  if (opts.output === 'top_k' && (opts.k < 1 || opts.k > w.items)) throw new Error(`k=${opts.k} must be between 1 and ${w.items}`);
  const F = DataType.FLOAT;
  const batch = opts.batchDim ?? 'batch';
  const names = opts.outputNames;
  const scoresName = opts.output === 'scores' && names && 'scores' in names ? names.scores : 'scores';
  const nodes: Node[] = [
    { op: 'MatMul', inputs: [input, 'w1'], outputs: ['h_pre'] },
    { op: 'Add', inputs: ['h_pre', 'b1'], outputs: ['h_bias'] },
    { op: 'Relu', inputs: ['h_bias'], outputs: ['hidden'] },
    { op: 'MatMul', inputs: ['hidden', 'w2'], outputs: ['e_pre'] },
    { op: 'Add', inputs: ['e_pre', 'b2'], outputs: ['user_embedding'] },
    { op: 'MatMul', inputs: ['user_embedding', 'items_t'], outputs: ['dot'] },
    { op: 'Add', inputs: ['dot', 'item_bias'], outputs: [scoresName] },
  ];
  const initializers = [
    { name: 'w1', type: F, dims: [w.inputSize, w.hidden], data: w.w1 },
    { name: 'b1', type: F, dims: [w.hidden], data: w.b1 },
    { name: 'w2', type: F, dims: [w.hidden, w.embedding], data: w.w2 },
    { name: 'b2', type: F, dims: [w.embedding], data: w.b2 },
    { name: 'items_t', type: F, dims: [w.embedding, w.items], data: w.itemsT },
    { name: 'item_bias', type: F, dims: [w.items], data: w.itemBias },
  ];
  let outputs;
  if (opts.output === 'top_k') {
    initializers.push({ name: 'k', type: DataType.INT64, dims: [1], data: BigInt64Array.from([BigInt(opts.k)]) } as never);
    const [values, indices] = names && 'values' in names ? [names.values, names.indices] : ['top_scores', 'top_indices'];
    nodes.push({ op: 'TopK', inputs: ['scores', 'k'], outputs: [values, indices], attributes: { axis: { int: -1 }, largest: { int: 1 }, sorted: { int: 1 } } });
    outputs = [
      { name: values, type: F, shape: [batch, opts.k] },
      { name: indices, type: DataType.INT64, shape: [batch, opts.k] },
    ];
  } else {
    outputs = [{ name: scoresName, type: F, shape: [batch, w.items] }];
  }
  return writeModel(
    { name: opts.name ?? 'two_tower', nodes, initializers, inputs: [{ name: input, type: F, shape: [batch, w.inputSize] }], outputs },
    { producer: 'batchcast', version: opts.version, metadata: { version: opts.version, ...opts.metadata } },
  );
}
