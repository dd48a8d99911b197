// A two-tower recommender as an ONNX graph: user MLP -> user embedding, dot item embeddings -> scores,
// ending in a TopK node (or returning all scores, for jobs that take the top K themselves).
import { DataType, type Node, type Tensor, writeModel } from './onnx-writer.ts';
import { PRECISIONS, type Precision } from './precisions.ts';
import { quantizeColumns, toFloat16Bits } from './quantize.ts';
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
  /** weights and item-tower arithmetic; default fp32 (see itemTower) */
  precision?: Precision;
}

export { PRECISIONS, type Precision };

export function randomTwoTower(
  shape: { inputSize: number; hidden: number; embedding: number; items: number },
  seed: number,
): TwoTowerWeights {
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

/**
 * The item tower (user_embedding -> scores) at each precision, the same weights throughout:
 * - fp32: MatMul + Add.
 * - int8: dynamic quantization as onnxruntime's quantize_dynamic writes it (DynamicQuantizeLinear on the
 *   user embedding, MatMulInteger u8 x s8 against items quantized per column, Cast, Mul by the product of
 *   the scales); ORT's optimizer fuses it into one DynamicQuantizeMatMul kernel.
 * - fp16: every weight stored as float16 and Cast to float32; ORT folds the Casts at load, so it computes
 *   in fp32 with fp16-rounded weights (half the file).
 * - fp16-compute: the item tower computed in float16 (Cast in, MatMul, Add, TopK in fp16, Cast out).
 */
function itemTower(w: TwoTowerWeights, precision: Precision): { nodes: Node[]; initializers: Tensor[] } {
  const F = DataType.FLOAT;
  const bias: Tensor = { name: 'item_bias', type: F, dims: [w.items], data: w.itemBias };
  if (precision === 'int8') {
    // 7-bit weights (-63..63), as quantize_dynamic's reduce_range: without VNNI, ORT's AVX2 u8 x s8 kernel
    // adds pairs of u8 x s8 products in int16 (vpmaddubsw), which saturates past 32767. With 8-bit weights
    // (255 x 127 x 2 = 64770) an AMD EPYC's scores came out 27% off fp32 (test/model-variants.test.ts)
    // where an earlier machine's were within 5%; 255 x 63 x 2 = 32130 cannot saturate.
    const q = quantizeColumns(w.itemsT, w.embedding, w.items, 63);
    return {
      nodes: [
        { op: 'DynamicQuantizeLinear', inputs: ['user_embedding'], outputs: ['ue_q', 'ue_scale', 'ue_zero'] },
        { op: 'MatMulInteger', inputs: ['ue_q', 'items_q', 'ue_zero', 'items_zero'], outputs: ['dot_int'] },
        { op: 'Mul', inputs: ['ue_scale', 'items_scale'], outputs: ['dot_scale'] },
        { op: 'Cast', inputs: ['dot_int'], outputs: ['dot_float'], attributes: { to: { int: F } } },
        { op: 'Mul', inputs: ['dot_float', 'dot_scale'], outputs: ['dot'] },
        { op: 'Add', inputs: ['dot', 'item_bias'], outputs: ['scores'] },
      ],
      initializers: [
        { name: 'items_q', type: DataType.INT8, dims: [w.embedding, w.items], data: q.values },
        { name: 'items_zero', type: DataType.INT8, dims: [], data: new Int8Array(1) },
        { name: 'items_scale', type: F, dims: [w.items], data: q.scales },
        bias,
      ],
    };
  }
  if (precision === 'fp16-compute') {
    const H = DataType.FLOAT16;
    return {
      nodes: [
        { op: 'Cast', inputs: ['user_embedding'], outputs: ['ue_half'], attributes: { to: { int: H } } },
        { op: 'MatMul', inputs: ['ue_half', 'items_t'], outputs: ['dot'] },
        { op: 'Add', inputs: ['dot', 'item_bias'], outputs: ['scores_half'] },
      ],
      initializers: [
        { name: 'items_t', type: H, dims: [w.embedding, w.items], data: toFloat16Bits(w.itemsT) },
        { name: 'item_bias', type: H, dims: [w.items], data: toFloat16Bits(w.itemBias) },
      ],
    };
  }
  return {
    nodes: [
      { op: 'MatMul', inputs: ['user_embedding', 'items_t'], outputs: ['dot'] },
      { op: 'Add', inputs: ['dot', 'item_bias'], outputs: ['scores'] },
    ],
    initializers: [{ name: 'items_t', type: F, dims: [w.embedding, w.items], data: w.itemsT }, bias],
  };
}

/** fp16 storage: each float initializer becomes a float16 one named `<name>_half` and a Cast back to float. */
function halfWeights(initializers: Tensor[]): { nodes: Node[]; initializers: Tensor[] } {
  const nodes: Node[] = [];
  const out = initializers.map((t) => {
    if (t.type !== DataType.FLOAT) return t;
    nodes.push({ op: 'Cast', inputs: [`${t.name}_half`], outputs: [t.name], attributes: { to: { int: DataType.FLOAT } } });
    return { ...t, name: `${t.name}_half`, type: DataType.FLOAT16, data: toFloat16Bits(t.data as Float32Array) };
  });
  return { nodes, initializers: out };
}

export function buildTwoTowerModel(w: TwoTowerWeights, opts: ModelOptions): Buffer {
  const input = opts.inputName ?? 'features';
  const precision = opts.precision ?? 'fp32';
  if (!PRECISIONS.includes(precision)) throw new Error(`precision ${precision} is not one of ${PRECISIONS.join(', ')}`);
  if (opts.output === 'top_k' && (opts.k < 1 || opts.k > w.items)) throw new Error(`k=${opts.k} must be between 1 and ${w.items}`);
  const F = DataType.FLOAT;
  const tower = itemTower(w, precision);
  let nodes: Node[] = [
    { op: 'MatMul', inputs: [input, 'w1'], outputs: ['h_pre'] },
    { op: 'Add', inputs: ['h_pre', 'b1'], outputs: ['h_bias'] },
    { op: 'Relu', inputs: ['h_bias'], outputs: ['hidden'] },
    { op: 'MatMul', inputs: ['hidden', 'w2'], outputs: ['e_pre'] },
    { op: 'Add', inputs: ['e_pre', 'b2'], outputs: ['user_embedding'] },
    ...tower.nodes,
  ];
  let initializers: Tensor[] = [
    { name: 'w1', type: F, dims: [w.inputSize, w.hidden], data: w.w1 },
    { name: 'b1', type: F, dims: [w.hidden], data: w.b1 },
    { name: 'w2', type: F, dims: [w.hidden, w.embedding], data: w.w2 },
    { name: 'b2', type: F, dims: [w.embedding], data: w.b2 },
    ...tower.initializers,
  ];
  if (precision === 'fp16') {
    const half = halfWeights(initializers);
    nodes = [...half.nodes, ...nodes];
    initializers = half.initializers;
  }
  // fp16-compute ends its tower in float16: TopK runs on it, and the float outputs are Cast back.
  const scores = precision === 'fp16-compute' ? 'scores_half' : 'scores';
  const topScores = precision === 'fp16-compute' ? 'top_scores_half' : 'top_scores';
  const toFloat = (from: string, to: string): Node => ({ op: 'Cast', inputs: [from], outputs: [to], attributes: { to: { int: F } } });
  let outputs;
  if (opts.output === 'top_k') {
    initializers.push({ name: 'k', type: DataType.INT64, dims: [1], data: BigInt64Array.from([BigInt(opts.k)]) });
    nodes.push({
      op: 'TopK',
      inputs: [scores, 'k'],
      outputs: [topScores, 'top_indices'],
      attributes: { axis: { int: -1 }, largest: { int: 1 }, sorted: { int: 1 } },
    });
    if (topScores !== 'top_scores') nodes.push(toFloat(topScores, 'top_scores'));
    outputs = [
      { name: 'top_scores', type: F, shape: ['batch', opts.k] },
      { name: 'top_indices', type: DataType.INT64, shape: ['batch', opts.k] },
    ];
  } else {
    if (scores !== 'scores') nodes.push(toFloat(scores, 'scores'));
    outputs = [{ name: 'scores', type: F, shape: ['batch', w.items] }];
  }
  // An exporter's own names: Identity nodes from ours to theirs (ORT drops them at load).
  const names = opts.outputNames;
  const renames: Record<string, string> = !names
    ? {}
    : 'values' in names
      ? { top_scores: names.values, top_indices: names.indices }
      : { scores: names.scores };
  for (const [from, to] of Object.entries(renames)) if (from !== to) nodes.push({ op: 'Identity', inputs: [from], outputs: [to] });
  const batch = opts.batchDim ?? 'batch';
  outputs = outputs.map((o) => ({ ...o, name: renames[o.name] ?? o.name, shape: [batch, ...o.shape.slice(1)] }));
  const version = precision === 'fp32' ? opts.version : `${opts.version}-${precision}`;
  return writeModel(
    { name: opts.name ?? 'two_tower', nodes, initializers, inputs: [{ name: input, type: F, shape: [batch, w.inputSize] }], outputs },
    { producer: 'batchcast', version, metadata: { version, precision, ...opts.metadata } },
  );
}
