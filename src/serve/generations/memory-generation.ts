// One published generation held in memory, compact: user ids in a ByteKeys hash set (row = key number),
// each row's items as indices into the run's own item dictionary (Uint16 when it has at most 65,536
// items, else Int32) and its scores as Float32 (what PostgreSQL stores: real). A generation never changes
// once written, so this copy is exact for as long as the pointer names its run.

import { forEachCopyRow } from '../../store/copy-binary.ts';
import type { Generation, GenerationMeta } from '../../store/generation.ts';
import type { UserRecommendations } from '../../store/lookup-users.ts';
import { itemHead } from '../lookups/lookup-body.ts';
import { ByteKeys } from './byte-keys.ts';

export class OverBudgetError extends Error {
  override name = 'OverBudgetError';
}

/** Rows that cannot be what predict wrote (NULLs, a user twice): not worth retrying. */
export class BadGenerationError extends Error {
  override name = 'BadGenerationError';
}

/** 10^0 .. 10^22, all exact doubles (Math.pow with a variable exponent is a library call). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * True when d is exactly halfway between the float4 a (> 0) and a neighbour: such a decimal reads back as
 * a only by the round-half-even rule, and PostgreSQL's shortest-decimal output (Ryu) does not use it
 * (92176416 prints as 9.2176416e+07, not 9.217642e+07).
 */
function onBoundary(a: number, d: number): boolean {
  f32[0] = a;
  const bits = u32[0];
  u32[0] = bits + 1;
  const up = f32[0];
  u32[0] = bits - 1;
  const down = f32[0];
  return d === (a + up) / 2 || d === (a + down) / 2;
}

/**
 * The shortest decimal that reads back as the same float4: what PostgreSQL prints for a real (and so
 * what the database path of the API answers). A 6-digit decimal is unique within a float4's rounding
 * interval, so trying 6, 7, 8 then 9 digits finds the shortest; 9 always round-trips; where two decimals
 * of that length fit, PostgreSQL (Ryu) prints the nearer, which is the rounded one.
 * Fast path in doubles: round(|v| x 10^k) / 10^k is exactly Number() of that decimal (10^k is exact for
 * |k| <= 22 and division rounds correctly), ~30 ns a score against ~600 ns through toPrecision strings.
 * Within 1e-4 of a halfway point the doubles cannot tell the nearer decimal: the string path decides.
 */
export function float4Number(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  const e = Math.floor(Math.log10(a));
  for (let p = 6; p <= 9; p++) {
    const k = p - 1 - e;
    if (k > 22 || k < -22) break;
    const scale = k >= 0 ? POW10[k] : 1 / POW10[-k];
    const r = k >= 0 ? a * scale : a / POW10[-k];
    const n = Math.round(r);
    if (Math.abs(r - n) > 0.4999) break;
    const d = k >= 0 ? n / scale : n * POW10[-k];
    if (Math.fround(d) === a && !onBoundary(a, d)) return v < 0 ? -d : d;
  }
  return float4NumberSlow(v);
}

/**
 * The same through strings. At an exact halfway point (-47.2578125 at 8 digits) toPrecision rounds away
 * from zero and PostgreSQL to the even digit: -47.257812.
 */
export function float4NumberSlow(v: number): number {
  for (let p = 6; p <= 9; p++) {
    const s = v.toPrecision(p);
    const d = Number(s);
    if (p < 9 && (Math.fround(d) !== v || onBoundary(Math.abs(v), Math.abs(d)))) continue;
    const exact = v.toPrecision(p + 1);
    if (Number(exact) === v && /5(?=e|$)/.test(exact)) {
      const down = exact.replace(/5(?=e|$)/, '');
      const last = /(\d)(?=e|$)/.exec(down.replace(/\.(?=e|$)/, ''))?.[1];
      if (last !== undefined && Number(last) % 2 === 0) return Number(down);
    }
    return d;
  }
  return v;
}

export class MemoryGeneration {
  /** Item index -> its JSON head (lookup-body.ts itemHead), made on first use: no Map probe per item. */
  private readonly heads: (string | undefined)[];

  constructor(
    readonly job: string,
    readonly generation: Generation,
    private readonly users: ByteKeys,
    /** Row r's items and scores are at [rowStart[r], rowStart[r + 1]). */
    private readonly rowStart: Uint32Array,
    private readonly items: Uint16Array | Int32Array,
    private readonly scores: Float32Array,
    private readonly itemIds: string[],
    private readonly fallback: GenerationMeta['fallback'],
  ) {
    this.heads = new Array<string | undefined>(itemIds.length).fill(undefined);
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Bytes held: the typed arrays plus the item dictionary (~50 bytes a short string, 8 a JSON head slot). */
  get bytes(): number {
    return this.users.byteLength + this.rowStart.byteLength + this.items.byteLength + this.scores.byteLength + this.itemIds.length * 58;
  }

  /** The same answer as lookupUsers gives for one user of this generation. */
  lookup(userId: string): UserRecommendations {
    const row = this.users.findString(userId);
    if (row < 0) return { found: false, itemIds: this.fallback?.itemIds ?? null, scores: this.fallback?.scores ?? null };
    const a = this.rowStart[row];
    const n = this.rowStart[row + 1] - a;
    const itemIds = new Array<string>(n);
    const scores = new Array<number>(n);
    const itemHeads = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const idx = this.items[a + i];
      itemIds[i] = this.itemIds[idx];
      itemHeads[i] = this.heads[idx] ??= itemHead(itemIds[i]);
      scores[i] = float4Number(this.scores[a + i]);
    }
    return { found: true, itemIds, scores, itemHeads };
  }
}

/** A growable typed array: doubling, so loading N values copies at most 2N. */
class Grow<T extends Uint16Array | Int32Array | Float32Array | Uint32Array> {
  used = 0;
  constructor(
    public data: T,
    private make: (n: number) => T,
  ) {}
  reserve(extra: number): void {
    if (this.used + extra <= this.data.length) return;
    const next = this.make(Math.max(this.data.length * 2, this.used + extra));
    next.set(this.data.subarray(0, this.used));
    this.data = next;
  }
  /** Copies into a wider array type (Uint16 -> Int32 when the item dictionary passes 65,536). */
  widen(make: (n: number) => T): void {
    const next = make(this.data.length);
    next.set(this.data.subarray(0, this.used));
    this.data = next;
    this.make = make;
  }
  done(): T {
    return (this.data.length > this.used * 1.05 ? this.data.slice(0, this.used) : this.data) as T;
  }
}

/** A 1-dimensional array value: its element count, and where the elements start (after ndim, flags, type, dim, lower bound). */
function arrayCount(view: DataView, start: number, what: string): number {
  const ndim = view.getInt32(start);
  if (ndim === 0) return 0;
  if (ndim !== 1) throw new BadGenerationError(`${what} has ${ndim} dimensions, expected 1`);
  return view.getInt32(start + 12);
}

/**
 * Builds a generation from the COPY binary rows of generationRows (user_id, items, scores): items are int4
 * indices into meta.itemMap, or text item ids (a run written before sql/006) interned here. Fails with
 * OverBudgetError as soon as the arrays pass maxBytes, so a generation larger than the budget is never
 * held whole, even briefly.
 */
export async function buildMemoryGeneration(
  meta: GenerationMeta,
  rows: AsyncIterable<Buffer>,
  maxBytes: number,
): Promise<MemoryGeneration> {
  const expected = Math.max(16, meta.rows);
  const perRow = Math.max(1, meta.k);
  const users = new ByteKeys(expected);
  const dict = new ByteKeys(1024, 12);
  const rowStart = new Grow(new Uint32Array(expected + 1), (n) => new Uint32Array(n));
  // Uint16 from the start (most catalogues have fewer than 65,536 items): no 10M-element conversion at the end.
  const items = new Grow<Uint16Array | Int32Array>(new Uint16Array(expected * perRow), (n) => new Uint16Array(n));
  const scores = new Grow(new Float32Array(expected * perRow), (n) => new Float32Array(n));
  rowStart.used = 1;
  const where = `run ${meta.runId} of job ${meta.job}`;
  let checked = 0;
  // A compact run (sql/006) stores indices into its item map: they are the dictionary already.
  const map = meta.itemMap;
  if (map && map.length > 65_536) items.widen((m) => new Int32Array(m));
  await forEachCopyRow(rows, 3, ({ buf, view, at }) => {
    if (at[0] < 0 || at[2] < 0 || at[4] < 0) throw new BadGenerationError(`${where}: a row has a NULL user_id, items or scores`);
    const row = users.add(buf, at[0], at[1]);
    if (row !== users.size - 1) throw new BadGenerationError(`${where}: user ${buf.toString('utf8', at[0], at[1])} appears twice`);
    const n = Math.min(arrayCount(view, at[2], `${where}: item_ids`), arrayCount(view, at[4], `${where}: scores`));
    items.reserve(n);
    scores.reserve(n);
    if (!map && dict.size + n > 65_536 && items.data instanceof Uint16Array) items.widen((m) => new Int32Array(m));
    const itemData = items.data;
    const scoreData = scores.data;
    let p = at[2] + 20;
    for (let i = 0; i < n; i++) {
      const len = view.getInt32(p);
      if (len < 0) throw new BadGenerationError(`${where}: user ${buf.toString('utf8', at[0], at[1])} has a NULL item id`);
      if (map) {
        const idx = view.getInt32(p + 4);
        if (len !== 4 || idx < 0 || idx >= map.length) {
          throw new BadGenerationError(
            `${where}: user ${buf.toString('utf8', at[0], at[1])} has item index ${idx}, outside its item map (${map.length} items)`,
          );
        }
        itemData[items.used++] = idx;
      } else {
        itemData[items.used++] = dict.add(buf, p + 4, p + 4 + len);
      }
      p += 4 + len;
    }
    p = at[4] + 20;
    for (let i = 0; i < n; i++) {
      if (view.getInt32(p) < 0) {
        scoreData[scores.used++] = NaN;
        p += 4;
        continue;
      }
      scoreData[scores.used++] = view.getFloat32(p + 4);
      p += 8;
    }
    rowStart.reserve(1);
    rowStart.data[rowStart.used++] = items.used;
    // the budget, every 4096 rows (a few additions): a generation over it is dropped long before it is whole
    if (row - checked >= 4_096) {
      checked = row;
      const bytes = users.byteLength + rowStart.data.byteLength + items.data.byteLength + scores.data.byteLength;
      if (bytes > maxBytes) throw new OverBudgetError(`${where}: passed ${Math.round(maxBytes / 1e6)} MB after ${row + 1} users`);
    }
  });
  users.trim();
  const itemIds = map ?? Array.from({ length: dict.size }, (_, i) => dict.key(i));
  const g = new MemoryGeneration(
    meta.job,
    {
      runId: meta.runId,
      predictionDate: meta.predictionDate,
      modelVersion: meta.modelVersion,
      generatedAt: meta.generatedAt,
      k: meta.k,
    },
    users,
    rowStart.done(),
    items.done(),
    scores.done(),
    itemIds,
    meta.fallback,
  );
  if (g.bytes > maxBytes)
    throw new OverBudgetError(`${where}: needs ${Math.round(g.bytes / 1e6)} MB, more than the ${Math.round(maxBytes / 1e6)} MB left`);
  return g;
}
