// The variants of the demo model, the same weights stored and computed differently (build-model.ts): a list
// of its own so that `batchcast demo --help` can offer them without loading the model writer.
export const PRECISIONS = ['fp32', 'int8', 'fp16', 'fp16-compute'] as const;
export type Precision = (typeof PRECISIONS)[number];
