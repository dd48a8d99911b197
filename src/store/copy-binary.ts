// PostgreSQL binary COPY rows for batchcast.predictions (user_id text, item_idx int4[], scores real[]).
// Items are the model's indices (sql/006): their ids are in batchcast.item_maps, written once per items file.
// Binary saves the server from parsing float text (float4in), the costliest part of a text COPY of scores
// (see bench/README.md). Layout: PostgreSQL docs, COPY "Binary Format", and array_send().
// Written with a DataView: no per-row JS objects; every row of a chunk has the same fixed size but its user id.

const INT4_OID = 23;
const FLOAT4_OID = 700;
const ARRAY_HEADER = 20; // ndim, has-null flag, element oid, dim length, lower bound

export const COPY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.alloc(8), // flags, header extension length
]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** User ids as strings, or as int64 (written as decimal text: the column is text). */
export type UserIds = string[] | BigInt64Array;

export interface RowsToEncode {
  ids: UserIds;
  /** output row n takes its id from ids[idRows[n]]; default: the identity */
  idRows?: ArrayLike<number>;
  k: number;
  /** rows x k */
  values: Float32Array;
  /** rows x k */
  indices: Int32Array;
}

export function userIdText(ids: UserIds, i: number): string {
  return typeof ids[i] === 'bigint' ? ids[i].toString() : (ids[i] as string);
}

function decimalLength(v: number): number {
  let n = v < 0 ? 2 : 1;
  for (let x = Math.abs(v); x >= 10; x = Math.floor(x / 10)) n++;
  return n;
}

function writeDecimal(out: Uint8Array, o: number, v: number, len: number): void {
  let x = Math.abs(v);
  for (let p = o + len - 1; p >= o; p--) {
    out[p] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  if (v < 0) out[o] = 45; // '-'
}

/** A one-dimensional array field: field length, then array_send()'s header. Returns the offset after it. */
function arrayHeader(dv: DataView, o: number, fieldLength: number, elementOid: number, length: number): number {
  dv.setInt32(o, fieldLength);
  dv.setInt32(o + 4, 1); // dimensions
  dv.setInt32(o + 8, 0); // has nulls
  dv.setInt32(o + 12, elementOid);
  dv.setInt32(o + 16, length);
  dv.setInt32(o + 20, 1); // lower bound
  return o + 24;
}

/** Encodes the rows into one buffer of COPY tuples (no header or trailer). */
export function encodeRows(r: RowsToEncode): Buffer {
  const { ids, k, values, indices } = r;
  const rows = values.length / k;
  const idRow = (n: number) => (r.idRows ? r.idRows[n] : n);
  // int64 ids within 2^53 become numbers; larger ones (rare) fall back to text.
  const nums = ids instanceof BigInt64Array ? new Float64Array(rows) : undefined;
  const texts: (Buffer | undefined)[] = new Array(rows);
  const idLens = new Int32Array(rows);
  let size = 0;
  const fixed = 2 + 4 + 4 + ARRAY_HEADER + k * 8 + 4 + ARRAY_HEADER + k * 8;
  for (let n = 0; n < rows; n++) {
    const i = idRow(n);
    if (nums) {
      const big = (ids as BigInt64Array)[i];
      const v = Number(big);
      if (Number.isSafeInteger(v)) {
        nums[n] = v;
        idLens[n] = decimalLength(v);
      } else {
        texts[n] = Buffer.from(big.toString());
        idLens[n] = texts[n]!.length;
      }
    } else {
      texts[n] = Buffer.from((ids as string[])[i], 'utf8');
      idLens[n] = texts[n]!.length;
    }
    size += fixed + idLens[n];
  }
  // allocUnsafeSlow: a buffer of its own (not a slice of the shared pool), so it can be transferred between threads
  const buf = Buffer.allocUnsafeSlow(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  for (let n = 0; n < rows; n++) {
    dv.setInt16(o, 3);
    dv.setInt32(o + 2, idLens[n]);
    o += 6;
    const text = texts[n];
    if (text) buf.set(text, o);
    else writeDecimal(buf, o, nums![n], idLens[n]);
    o += idLens[n];
    // item_idx int4[]
    o = arrayHeader(dv, o, ARRAY_HEADER + k * 8, INT4_OID, k);
    for (let j = 0; j < k; j++) {
      dv.setInt32(o, 4);
      dv.setInt32(o + 4, indices[n * k + j]);
      o += 8;
    }
    // scores real[]
    o = arrayHeader(dv, o, ARRAY_HEADER + k * 8, FLOAT4_OID, k);
    for (let j = 0; j < k; j++) {
      dv.setInt32(o, 4);
      dv.setFloat32(o + 4, values[n * k + j]);
      o += 8;
    }
  }
  return buf;
}
