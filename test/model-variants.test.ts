// The compressed variants of the two-tower model: ONNX Runtime loads and runs each one, with the same
// inputs and outputs as fp32, and its top K agrees with fp32's. Plus the weight conversions they use.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { overlapAtK, rbo } from '../bench/agreement.ts';
import { buildTwoTowerModel, PRECISIONS, type Precision, randomTwoTower } from '../src/demo/build-model.ts';
import { fromHalfBits, halfBits, quantizeColumns, toFloat16Bits } from '../src/demo/quantize.ts';
import { rng } from '../src/demo/random.ts';

describe('float16 bits', () => {
  it('rounds to nearest even, with overflow, underflow and subnormals', () => {
    expect([1, -2, 0.5, 65504, 65520, 1e9, 1e-8, 2 ** -24, 2 ** -14, 0].map(halfBits)).toEqual([
      0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0x7c00, 0, 1, 0x0400, 0,
    ]);
    expect(halfBits(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(halfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(fromHalfBits(halfBits(NaN)))).toBe(true);
  });
  it('round-trips within half a unit in the last place', () => {
    const next = rng(1);
    const xs = Float32Array.from({ length: 1000 }, () => (next() - 0.5) * 20);
    toFloat16Bits(xs).forEach((h, i) => expect(Math.abs(fromHalfBits(h) - xs[i])).toBeLessThanOrEqual(Math.abs(xs[i]) * 2 ** -11));
  });
});

describe('int8 per column', () => {
  it('keeps each weight within half a step of its column', () => {
    const next = rng(2);
    const rows = 16;
    const cols = 50;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => (next() - 0.5) * (1 + (i % cols))); // columns of growing range
    const q = quantizeColumns(w, rows, cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = q.values[r * cols + c];
        expect(Math.abs(v)).toBeLessThanOrEqual(127);
        expect(Math.abs(v * q.scales[c] - w[r * cols + c])).toBeLessThanOrEqual(q.scales[c] / 2 + 1e-7);
      }
    }
    expect(q.scales[cols - 1]).toBeGreaterThan(q.scales[0] * 10);
    // 7-bit weights (reduce_range, what build-model.ts uses): every column reaches +-63 and no further
    const r7 = quantizeColumns(w, rows, cols, 63);
    for (let c = 0; c < cols; c++) {
      let most = 0;
      for (let r = 0; r < rows; r++) most = Math.max(most, Math.abs(r7.values[r * cols + c]));
      expect(most).toBe(63);
    }
  });
});

async function runModel(
  bytes: Buffer,
  features: Float32Array,
  batch: number,
  size: number,
): Promise<ort.InferenceSession.OnnxValueMapType[]> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const out = [];
    for (let start = 0; start * size < features.length; start += batch) {
      out.push(
        await session.run({ features: new ort.Tensor('float32', features.subarray(start * size, (start + batch) * size), [batch, size]) }),
      );
    }
    return out;
  } finally {
    await session.release();
  }
}

describe('compressed variants run in ONNX Runtime and agree with fp32', () => {
  const shape = { inputSize: 8, hidden: 16, embedding: 16, items: 400 };
  const w = randomTwoTower(shape, 5);
  const next = rng(6);
  const batch = 128;
  const users = 4 * batch; // several batches: int8 quantizes the user embeddings per batch
  const features = Float32Array.from({ length: users * shape.inputSize }, () => next() * 2 - 1);
  const k = 10;
  // Measured on this fixture: int8 0.989, fp16 0.9998, fp16-compute 1.0. The bounds leave room, and fail if a
  // variant scores the wrong items (a random top 10 of 400 overlaps about 0.025).
  const minOverlap: Record<Precision, number> = { fp32: 1, int8: 0.9, fp16: 0.97, 'fp16-compute': 0.97 };

  const topK = (outs: ort.InferenceSession.OnnxValueMapType[]) =>
    outs.flatMap((o) => {
      const idx = o.top_indices.data as BigInt64Array;
      return Array.from({ length: idx.length / k }, (_, u) => Array.from(idx.subarray(u * k, (u + 1) * k), Number));
    });
  const fp32 = runModel(buildTwoTowerModel(w, { k, output: 'top_k', version: 't' }), features, batch, shape.inputSize).then(topK);

  for (const precision of PRECISIONS) {
    it(`${precision}: top_k output, same names, types and shapes, overlap@10 >= ${minOverlap[precision]}`, async () => {
      const outs = await runModel(buildTwoTowerModel(w, { k, output: 'top_k', version: 't', precision }), features, batch, shape.inputSize);
      for (const o of outs) {
        expect(Object.keys(o).sort()).toEqual(['top_indices', 'top_scores']);
        expect([o.top_scores.type, o.top_scores.dims]).toEqual(['float32', [batch, k]]);
        expect([o.top_indices.type, o.top_indices.dims]).toEqual(['int64', [batch, k]]);
      }
      const want = await fp32;
      const got = topK(outs);
      const overlap = got.reduce((s, g, u) => s + overlapAtK(g, want[u], k), 0) / users;
      const meanRbo = got.reduce((s, g, u) => s + rbo(g, want[u], 0.9, k), 0) / users;
      expect(overlap).toBeGreaterThanOrEqual(minOverlap[precision]);
      expect(meanRbo).toBeGreaterThanOrEqual(minOverlap[precision] - 0.02);
    });

    it(`${precision}: scores output, float32 [batch x items], close to fp32`, async () => {
      const [got] = await runModel(
        buildTwoTowerModel(w, { k, output: 'scores', version: 't', precision }),
        features.subarray(0, batch * shape.inputSize),
        batch,
        shape.inputSize,
      );
      const [want] = await runModel(
        buildTwoTowerModel(w, { k, output: 'scores', version: 't' }),
        features.subarray(0, batch * shape.inputSize),
        batch,
        shape.inputSize,
      );
      expect(Object.keys(got)).toEqual(['scores']);
      expect([got.scores.type, got.scores.dims]).toEqual(['float32', [batch, shape.items]]);
      const a = got.scores.data as Float32Array;
      const b = want.scores.data as Float32Array;
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < a.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(a[i] - b[i]));
        maxAbs = Math.max(maxAbs, Math.abs(b[i]));
      }
      expect(maxErr / maxAbs).toBeLessThan(precision === 'int8' ? 0.05 : 0.005);
      if (precision === 'fp32') expect(maxErr).toBe(0);
    });
  }

  it('rejects an unknown precision by name', () => {
    expect(() => buildTwoTowerModel(w, { k, output: 'top_k', version: 't', precision: 'int4' as Precision })).toThrow(
      /precision int4 is not one of fp32, int8, fp16/,
    );
  });
});

describe('agreement measures', () => {
  it('overlap@K counts shared items in the two K-prefixes', () => {
    expect(overlapAtK([1, 2, 3, 4], [4, 3, 9, 8], 4)).toBe(0.5);
    expect(overlapAtK([1, 2, 3, 4], [4, 3, 9, 8], 2)).toBe(0);
  });
  it('RBO (p = 0.9, extrapolated) is 1 for equal lists, 0 for disjoint ones, and weighs the top most', () => {
    const ten = Array.from({ length: 10 }, (_, i) => i);
    expect(rbo(ten, ten, 0.9, 10)).toBeCloseTo(1, 12);
    expect(
      rbo(
        ten,
        ten.map((x) => x + 100),
        0.9,
        10,
      ),
    ).toBe(0);
    // by hand: A1 = 1, A2 = 1/2, A3 = 1 -> 0.1 * (1 + 0.45 + 0.81) + 0.729 = 0.955
    expect(rbo([1, 2, 3], [1, 3, 2], 0.9, 3)).toBeCloseTo(0.955, 12);
    const swapTop = [1, 0, ...ten.slice(2)];
    const swapBottom = [...ten.slice(0, 8), 9, 8];
    expect(rbo(ten, swapTop, 0.9, 10)).toBeLessThan(rbo(ten, swapBottom, 0.9, 10));
  });
});
