// PostgreSQL's COPY binary format, both ways (postgresql.org/docs/current/sql-copy.html, "Binary Format";
// arrays as array_send() writes them): an 11-byte signature, flags and a header extension, then per row an
// int16 field count and per field an int32 length (-1: NULL) and that many bytes; a field count of -1 ends
// the data.
//
// Encoding: rows for a run's table (user_id text, item_idx int4[], scores real[]), made by the inference
// workers. Items are the model's indices: their ids are in batchcast.item_maps, written once per items file.
// Binary saves the server from parsing float text (float4in), the costliest part of a text COPY of scores
// (see bench/README.md). Written with a DataView: no per-row JS objects; every row of a chunk has the same
// fixed size but its user id.
//
// Parsing: a generation read back for the in-memory copy. Fields are handed over as byte ranges of the
// chunk, never copied or decoded, so the caller decides what becomes a string.

const INT4_OID = 23;
const FLOAT4_OID = 700;
const ARRAY_HEADER = 20; // ndim, has-null flag, element oid, dim length, lower bound

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export const COPY_HEADER = Buffer.concat([
  SIGNATURE,
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

export interface CopyFields {
  buf: Buffer;
  /** The same bytes as a DataView: getInt32/getFloat32 are compiled inline, Buffer.readInt32BE is a call with checks. */
  view: DataView;
  /** start of field i at [2i], end at [2i+1]; start -1 for NULL. */
  at: Int32Array;
}

/**
 * Calls onRow for every row of a COPY binary stream with `fields` fields. The byte ranges are valid only
 * during the call. Returns the number of rows. A row split across chunks is carried over (one row at most).
 */
export async function forEachCopyRow(stream: AsyncIterable<Buffer>, fields: number, onRow: (row: CopyFields) => void): Promise<number> {
  const at = new Int32Array(2 * fields);
  let pending: Buffer | undefined;
  let headerDone = false;
  let ended = false;
  let rows = 0;
  for await (const chunk of stream) {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let pos = 0;
    if (!headerDone) {
      if (buf.length < 19) {
        pending = buf;
        continue;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a PostgreSQL COPY binary stream (bad signature)');
      const ext = buf.readInt32BE(15);
      if (buf.length < 19 + ext) {
        pending = buf;
        continue;
      }
      pos = 19 + ext;
      headerDone = true;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    const row: CopyFields = { buf, view, at };
    for (;;) {
      if (ended || pos + 2 > buf.length) break;
      const n = view.getInt16(pos);
      if (n === -1) {
        ended = true;
        pos += 2;
        break;
      }
      if (n !== fields) throw new Error(`COPY row has ${n} fields, expected ${fields}`);
      let p = pos + 2;
      let complete = true;
      for (let f = 0; f < fields; f++) {
        if (p + 4 > buf.length) {
          complete = false;
          break;
        }
        const len = view.getInt32(p);
        p += 4;
        if (len < 0) {
          at[2 * f] = -1;
          at[2 * f + 1] = -1;
          continue;
        }
        if (p + len > buf.length) {
          complete = false;
          break;
        }
        at[2 * f] = p;
        at[2 * f + 1] = p + len;
        p += len;
      }
      if (!complete) break;
      onRow(row);
      rows++;
      pos = p;
    }
    if (pos < buf.length && !ended) pending = buf.subarray(pos);
  }
  if (!ended) throw new Error(`COPY stream ended after ${rows} rows without its end marker (connection lost?)`);
  return rows;
}
