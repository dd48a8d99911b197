// Weight compression for the compressed variants of a model (build-model.ts): int8 per column, and fp16.

export interface Int8Columns {
  /** same layout as the input, [rows x cols] row-major, each value in -levels..levels */
  values: Int8Array;
  /** one per column: value = q * scale */
  scales: Float32Array;
}

/**
 * Symmetric int8 per column (zero point 0): column c is scaled by max|w[., c]| / levels, so every column
 * keeps its own 2 x levels + 1 steps. For the item tower a column is one item, and items with small
 * embeddings keep their precision: per tensor, one large item would flatten the rest (measured in
 * bench/README.md). `levels` 63 is onnxruntime's `reduce_range` (7-bit weights), what x86 CPUs without
 * VNNI need: see build-model.ts.
 */
export function quantizeColumns(w: Float32Array, rows: number, cols: number, levels = 127): Int8Columns {
  if (w.length !== rows * cols) throw new Error(`quantizeColumns: ${w.length} values is not ${rows} x ${cols}`);
  const scales = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) scales[c] = Math.max(scales[c], Math.abs(w[r * cols + c]));
  }
  for (let c = 0; c < cols; c++) scales[c] = scales[c] > 0 ? scales[c] / levels : 1;
  const values = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) values[r * cols + c] = Math.max(-levels, Math.min(levels, Math.round(w[r * cols + c] / scales[c])));
  }
  return { values, scales };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of one float, rounded to nearest even (Node 20 has no Float16Array). */
export function halfBits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is the right rounding
  return sign | half;
}

export function toFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i]);
  return out;
}

/** The float a binary16 bit pattern stands for. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
