// A generation as an Arrow IPC stream (apache-arrow's RecordBatchStreamWriter): user_id Utf8,
// item_ids List<Utf8>, scores List<Float32>, one record batch per chunk read. Columns are built straight
// into Arrow's buffers (offsets + UTF-8 bytes, a Float32Array), not value by value through builders.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { AsyncByteQueue, Field, Float32, List, makeData, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Utf8 } from 'apache-arrow';
import { type ExportedGeneration, exportMetadata, type RowChunk } from './read-generation.ts';

/** Resolves when `out` can take more; fails when it closed first (a client that went away), so an export stops. */
export async function drained(out: Writable): Promise<void> {
  if (out.destroyed) throw new Error('the output was closed before the export finished');
  if (!out.writableNeedDrain) return;
  const ac = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }).then(() => {
        throw new Error('the output was closed before the export finished');
      }),
    ]);
  } finally {
    ac.abort();
  }
}

export function exportSchema(g: ExportedGeneration): Schema {
  return new Schema(
    [
      new Field('user_id', new Utf8(), false),
      new Field('item_ids', new List(new Field('item', new Utf8(), false)), false),
      new Field('scores', new List(new Field('score', new Float32(), false)), false),
    ],
    exportMetadata(g),
  );
}

const encoder = new TextEncoder();

/**
 * Utf8 column data of `values`: int32 offsets and the UTF-8 bytes, encoded in one call for the whole
 * column (per-string encodeInto measured ~12-19 µs per user with k = 10; this, ~2 µs).
 */
function utf8Data(values: string[]) {
  const offsets = new Int32Array(values.length + 1);
  const joined = values.join('');
  const bytes = encoder.encode(joined);
  if (bytes.length === joined.length) {
    // all ASCII: one byte per character
    for (let i = 0; i < values.length; i++) offsets[i + 1] = offsets[i] + values[i].length;
  } else {
    for (let i = 0; i < values.length; i++) offsets[i + 1] = offsets[i] + Buffer.byteLength(values[i], 'utf8');
  }
  return makeData({ type: new Utf8(), length: values.length, nullCount: 0, valueOffsets: offsets, data: bytes });
}

export function recordBatch(schema: Schema, chunk: RowChunk): RecordBatch {
  const n = chunk.userIds.length;
  const listOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) listOffsets[i + 1] = listOffsets[i] + chunk.itemIds[i].length;
  const items: string[] = [];
  for (const ids of chunk.itemIds) for (const id of ids) items.push(id);
  const scores = new Float32Array(items.length);
  for (let i = 0, at = 0; i < n; i++) {
    const s = chunk.scores[i];
    for (let j = 0; j < s.length; j++) scores[at++] = s[j];
  }
  const [, itemList, scoreList] = schema.fields;
  const children = [
    utf8Data(chunk.userIds),
    makeData({ type: itemList.type as List<Utf8>, length: n, nullCount: 0, valueOffsets: listOffsets, child: utf8Data(items) }),
    makeData({
      type: scoreList.type as List<Float32>,
      length: n,
      nullCount: 0,
      valueOffsets: listOffsets,
      child: makeData({ type: new Float32(), length: scores.length, nullCount: 0, data: scores }),
    }),
  ];
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
}

/** Hands the writer's bytes straight to `out`, so the writer never holds more than one batch. */
class WritableSink extends AsyncByteQueue {
  constructor(private readonly out: Writable) {
    super();
  }
  override write(value: ArrayBufferView | ArrayBufferLike | string): void {
    const u8 =
      value instanceof Uint8Array
        ? value
        : typeof value === 'string'
          ? encoder.encode(value)
          : ArrayBuffer.isView(value)
            ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
            : new Uint8Array(value);
    if (u8.byteLength > 0) this.out.write(u8);
  }
}

/** Writes the chunks as one Arrow IPC stream to `out`, waiting for `out` to drain between batches. */
export async function writeArrow(g: ExportedGeneration, chunks: AsyncIterable<RowChunk>, out: Writable): Promise<number> {
  const schema = exportSchema(g);
  const writer = new RecordBatchStreamWriter();
  writer.reset(new WritableSink(out), schema);
  let rows = 0;
  for await (const chunk of chunks) {
    writer.write(recordBatch(schema, chunk));
    rows += chunk.userIds.length;
    await drained(out);
  }
  // An empty generation still gets its schema; close() writes the end-of-stream marker.
  if (rows === 0) writer.write(recordBatch(schema, { userIds: [], itemIds: [], scores: [] }));
  await writer.close();
  return rows;
}
