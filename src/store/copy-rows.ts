// PostgreSQL's COPY binary format, split into rows: an 11-byte signature, flags and a header extension,
// then per row an int16 field count and per field an int32 length (-1: NULL) and that many bytes; a field
// count of -1 ends the data. Fields are handed over as byte ranges of the chunk, never copied or decoded,
// so the caller decides what becomes a string (postgresql.org/docs/current/sql-copy.html, Binary Format).

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

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
      if (buf.length < 19) { pending = buf; continue; }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a PostgreSQL COPY binary stream (bad signature)');
      const ext = buf.readInt32BE(15);
      if (buf.length < 19 + ext) { pending = buf; continue; }
      pos = 19 + ext;
      headerDone = true;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    const row: CopyFields = { buf, view, at };
    for (;;) {
      if (ended || pos + 2 > buf.length) break;
      const n = view.getInt16(pos);
      if (n === -1) { ended = true; pos += 2; break; }
      if (n !== fields) throw new Error(`COPY row has ${n} fields, expected ${fields}`);
      let p = pos + 2;
      let complete = true;
      for (let f = 0; f < fields; f++) {
        if (p + 4 > buf.length) { complete = false; break; }
        const len = view.getInt32(p);
        p += 4;
        if (len < 0) { at[2 * f] = -1; at[2 * f + 1] = -1; continue; }
        if (p + len > buf.length) { complete = false; break; }
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
