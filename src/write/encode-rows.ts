// PostgreSQL binary COPY rows for batchcast.predictions (user_id text, item_ids text[], scores real[]).
// Binary saves the server from parsing float text (float4in), the costliest part of a text COPY of scores.
// Layout: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4 and array_send().

const TEXT_OID = 25;
const FLOAT4_OID = 700;
const ARRAY_HEADER = 20; // ndim, has-null flag, element oid, dim length, lower bound

export const COPY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(8), // flags, header extension length
]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

export interface RowsToEncode {
  /** one per row */
  ids: string[];
  k: number;
  /** rows x k */
  values: Float32Array;
  /** rows x k */
  indices: Int32Array | BigInt64Array;
  /** UTF-8 bytes of each item id, by model item index */
  itemIds: Buffer[];
}

/** Encodes the rows into one Buffer of COPY tuples (no header or trailer). */
export function encodeRows(r: RowsToEncode): Buffer {
  const { ids, k, values, indices, itemIds } = r;
  const rows = ids.length;
  const idLens = new Int32Array(rows);
  let size = 0;
  const fixed = 2 + 4 + 4 + ARRAY_HEADER + 4 + ARRAY_HEADER + k * 8;
  for (let i = 0; i < rows; i++) {
    idLens[i] = Buffer.byteLength(ids[i], 'utf8');
    let items = 0;
    for (let j = 0; j < k; j++) items += 4 + itemIds[Number(indices[i * k + j])].length;
    size += fixed + idLens[i] + items;
  }
  // allocUnsafeSlow: a buffer of its own (not a slice of the shared pool), so it can be transferred between threads
  const buf = Buffer.allocUnsafeSlow(size);
  let o = 0;
  for (let i = 0; i < rows; i++) {
    o = buf.writeInt16BE(3, o);
    o = buf.writeInt32BE(idLens[i], o);
    o += buf.write(ids[i], o, 'utf8');
    // item_ids text[]
    const lenAt = o;
    o += 4;
    o = buf.writeInt32BE(1, o);
    o = buf.writeInt32BE(0, o);
    o = buf.writeInt32BE(TEXT_OID, o);
    o = buf.writeInt32BE(k, o);
    o = buf.writeInt32BE(1, o);
    for (let j = 0; j < k; j++) {
      const item = itemIds[Number(indices[i * k + j])];
      o = buf.writeInt32BE(item.length, o);
      o += item.copy(buf, o);
    }
    buf.writeInt32BE(o - lenAt - 4, lenAt);
    // scores real[]
    o = buf.writeInt32BE(ARRAY_HEADER + k * 8, o);
    o = buf.writeInt32BE(1, o);
    o = buf.writeInt32BE(0, o);
    o = buf.writeInt32BE(FLOAT4_OID, o);
    o = buf.writeInt32BE(k, o);
    o = buf.writeInt32BE(1, o);
    for (let j = 0; j < k; j++) {
      o = buf.writeInt32BE(4, o);
      o = buf.writeFloatBE(values[i * k + j], o);
    }
  }
  return buf;
}
