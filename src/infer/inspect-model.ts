// What `batchcast init` needs to know about an ONNX model it has never seen: its inputs and outputs with
// types and shapes (ONNX Runtime's own metadata), the sizes a probe run gives symbolic dimensions, and the
// model's metadata_props (key/value strings exporters may use for feature names or a version).
import { readFileSync } from 'node:fs';
import { BadInputError } from '../errors.ts';

export interface TensorInfo {
  name: string;
  /** ONNX Runtime's type name: float32, int64, int32, ... */
  type: string;
  /** numbers for fixed dimensions, names for symbolic ones (e.g. "batch_size") */
  shape: (number | string)[];
}

export interface ModelDescription {
  file: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** output shapes from a probe run of two rows, when the input width was known */
  probed: Record<string, number[]> | undefined;
  metadata: Record<string, string>;
}

/** Reads a varint at `pos`; returns [value, next position]. Numbers above 2^53 are not needed here. */
function varint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
}

/** Top-level fields of a protobuf message: field number -> raw bytes of each length-delimited value. */
function lengthDelimitedFields(buf: Buffer): Map<number, Buffer[]> {
  const fields = new Map<number, Buffer[]>();
  let pos = 0;
  while (pos < buf.length) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      fields.set(field, [...(fields.get(field) ?? []), buf.subarray(pos, pos + len)]);
      pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return fields;
}

/** ModelProto.metadata_props (field 14): StringStringEntryProto { key = 1, value = 2 }. */
export function modelMetadata(bytes: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of lengthDelimitedFields(bytes).get(14) ?? []) {
    const f = lengthDelimitedFields(entry);
    const key = f.get(1)?.[0]?.toString('utf8');
    if (key) out[key] = f.get(2)?.[0]?.toString('utf8') ?? '';
  }
  return out;
}

/**
 * Loads the model on this thread (init only: a run loads it in the inference workers), lists its tensors
 * and, when the input width is known (fixed in the model, or `inputWidth`), runs two rows of zeros (or the
 * batch size the model fixes) to learn the output sizes that the model leaves symbolic.
 */
export async function inspectModel(file: string, opts: { inputWidth?: number } = {}): Promise<ModelDescription> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new BadInputError(`model file ${file} cannot be read (${(err as Error).message}); check --model`, { cause: err });
  }
  const ort = await import('onnxruntime-node');
  let session;
  try {
    // from the path, not the bytes: weights stored as external data beside the model are found relative to it
    session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  } catch (err) {
    throw new BadInputError(
      `model file ${file} is not a model ONNX Runtime can load (${(err as Error).message.split('\n')[0]}); check --model`,
      { cause: err },
    );
  }
  try {
    const describe = (m: (typeof session.inputMetadata)[number]): TensorInfo =>
      m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] };
    const inputs = session.inputMetadata.map(describe);
    const outputs = session.outputMetadata.map(describe);
    let metadata: Record<string, string> = {};
    try {
      metadata = modelMetadata(bytes);
    } catch {
      // ONNX Runtime loaded it, so it is a model; metadata is only a hint.
    }
    let probed: Record<string, number[]> | undefined;
    // Every input needs a known width: fixed in the model, one for a [batch] input, or `inputWidth` for a single one.
    const widthOf = (t: TensorInfo) =>
      t.shape.length === 1 ? 1 : typeof t.shape[1] === 'number' ? t.shape[1] : inputs.length === 1 ? opts.inputWidth : undefined;
    const floats = inputs.every(
      (t) => (t.type === 'float32' || t.type === 'float64') && (t.shape.length === 1 || t.shape.length === 2) && widthOf(t),
    );
    if (inputs.length > 0 && floats) {
      // two rows, or the batch size the exporter fixed
      const fixed = inputs.map((t) => t.shape[0]).find((d): d is number => typeof d === 'number' && d > 0);
      const rows = fixed ?? 2;
      try {
        const feeds = Object.fromEntries(
          inputs.map((t) => {
            const n = rows * widthOf(t)!;
            const zeros = t.type === 'float64' ? new Float64Array(n) : new Float32Array(n);
            return [t.name, new ort.Tensor(t.type as 'float32' | 'float64', zeros, t.shape.length === 1 ? [rows] : [rows, widthOf(t)!])];
          }),
        );
        const tensors = outputs.filter((t) => t.type !== 'non-tensor').map((t) => t.name); // not a ZipMap
        const out = await session.run(feeds, tensors);
        probed = Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.dims.map(Number)]));
      } catch {
        probed = undefined; // the caller reports the shapes it has and asks for what is missing
      }
    }
    return { file, inputs, outputs, probed, metadata };
  } finally {
    await session.release();
  }
}

export function formatTensor(t: TensorInfo): string {
  return `"${t.name}" ${t.type} [${t.shape.map(String).join(', ')}]`;
}
