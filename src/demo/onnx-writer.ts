// Just enough of the ONNX protobuf format to write small feed-forward models from TypeScript,
// without a Python toolchain or a protobuf dependency. Field numbers are from onnx/onnx.proto (IR 8).

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

class Writer {
  private readonly parts: Buffer[] = [];

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }
  private rawVarint(v: bigint): void {
    const bytes: number[] = [];
    let x = BigInt.asUintN(64, v);
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) b |= 0x80;
      bytes.push(b);
    } while (x !== 0n);
    this.parts.push(Buffer.from(bytes));
  }
  varint(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.rawVarint(BigInt(v));
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.rawVarint(BigInt(b.byteLength));
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

// TensorProto.DataType codes; FLOAT16 data is given as its IEEE half bits (see toFloat16Bits).
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export interface Tensor {
  name: string;
  type: DataTypeId;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;
  /** stored in a file beside the model instead (ONNX external data, as exporters write large weights): `data` goes to `location` at `offset` */
  external?: { location: string; offset: number };
}
/** shape: a number is a fixed size, a string a named (symbolic) one, null a dimension left unknown */
export interface ValueInfo {
  name: string;
  type: DataTypeId;
  shape: (number | string | null)[];
}
export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, { int: number } | string>;
}
export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

function tensor(t: Tensor): Writer {
  const w = new Writer();
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, t.type);
  w.string(8, t.name);
  if (t.external) {
    // external_data (13) entries and data_location (14) = EXTERNAL
    const entry = (key: string, value: string) => new Writer().string(1, key).string(2, value);
    w.message(13, entry('location', t.external.location))
      .message(13, entry('offset', String(t.external.offset)))
      .message(13, entry('length', String(t.data.byteLength)));
    w.varint(14, 1);
  } else {
    w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data, little-endian
  }
  return w;
}

function valueInfo(v: ValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.shape)
    shape.message(1, d === null ? new Writer() : typeof d === 'number' ? new Writer().varint(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().varint(1, v.type).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

const ATTR_INT = 2;
const ATTR_STRING = 3;

function node(n: Node, i: number): Writer {
  const w = new Writer();
  for (const x of n.inputs) w.string(1, x);
  for (const x of n.outputs) w.string(2, x);
  w.string(3, n.name ?? `${n.op}_${i}`);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attributes ?? {})) {
    const a = new Writer().string(1, name);
    if (typeof value === 'string') a.string(4, value).varint(20, ATTR_STRING);
    else a.varint(3, value.int).varint(20, ATTR_INT);
    w.message(5, a);
  }
  return w;
}

/** Serialises a model: IR version 8, default-domain opset 17, with string metadata (the model card). */
export function writeModel(graph: Graph, meta: { producer: string; version: string; metadata?: Record<string, string> }): Buffer {
  const g = new Writer();
  graph.nodes.forEach((n, i) => g.message(1, node(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));

  const m = new Writer();
  m.varint(1, 8);
  m.string(2, meta.producer);
  m.string(3, meta.version);
  m.message(7, g);
  m.message(8, new Writer().string(1, '').varint(2, 17));
  for (const [key, value] of Object.entries(meta.metadata ?? {})) {
    m.message(14, new Writer().string(1, key).string(2, value));
  }
  return m.finish();
}
