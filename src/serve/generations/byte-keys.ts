// A set of byte strings numbered 0..n-1 in insertion order, in three typed arrays: the bytes end to end,
// where each starts, and an open-addressing hash table of numbers. For 1M user ids of ~12 bytes that is
// ~12 + 4 + 8 = 24 bytes a user, against ~80 for a Map<string, number> (1M strings on the heap, which the
// garbage collector would also walk on every major collection). Keys come straight from COPY bytes, so
// loading makes no string per user; a lookup encodes its one key into a scratch buffer.

/** FNV-1a over bytes: a few ns for a short id, and spreads sequential ids ("user-1", "user-2") well. */
function hashBytes(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

/** Longest key looked up by string: 256 characters (MAX_USER_ID_CHARS) of up to 4 UTF-8 bytes each. */
const SCRATCH_BYTES = 4096;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

export class ByteKeys {
  private bytes: Buffer;
  private used = 0;
  private starts: Uint32Array;
  private n = 0;
  /** key number + 1 per slot, 0 = empty; at most half full. */
  private slots: Int32Array;
  private mask: number;

  constructor(expectedKeys: number, bytesPerKey = 16) {
    const cap = Math.max(16, expectedKeys);
    this.bytes = Buffer.allocUnsafe(Math.max(256, cap * bytesPerKey));
    this.starts = new Uint32Array(cap + 1);
    let size = 32;
    while (size < cap * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.n;
  }

  get byteLength(): number {
    return this.bytes.byteLength + this.starts.byteLength + this.slots.byteLength;
  }

  /** The slot where find stopped: the key's, or the empty one where it would go (add uses it). */
  private slot = 0;

  /** The key's number, or -1. */
  find(buf: Buffer, start: number, end: number): number {
    const len = end - start;
    const slots = this.slots;
    const starts = this.starts;
    const bytes = this.bytes;
    for (let s = hashBytes(buf, start, end) & this.mask; ; s = (s + 1) & this.mask) {
      const id = slots[s] - 1;
      if (id < 0) {
        this.slot = s;
        return -1;
      }
      const a = starts[id];
      if (starts[id + 1] - a !== len) continue;
      let i = 0;
      while (i < len && bytes[a + i] === buf[start + i]) i++;
      if (i === len) {
        this.slot = s;
        return id;
      }
    }
  }

  findString(key: string): number {
    if (key.length * 3 > SCRATCH_BYTES) return -1;
    const len = scratch.write(key, 0, 'utf8');
    return this.find(scratch, 0, len);
  }

  /** The key's number, adding it when new. */
  add(buf: Buffer, start: number, end: number): number {
    const found = this.find(buf, start, end);
    if (found >= 0) return found;
    const slot = this.slot;
    const len = end - start;
    if (this.used + len > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + len));
      this.bytes.copy(next, 0, 0, this.used);
      this.bytes = next;
    }
    if (this.n + 1 >= this.starts.length) {
      const next = new Uint32Array(this.starts.length * 2);
      next.set(this.starts);
      this.starts = next;
    }
    // short keys byte by byte: cheaper than Buffer.copy's call for the ~10 bytes of an id
    if (len <= 32) for (let i = 0; i < len; i++) this.bytes[this.used + i] = buf[start + i];
    else buf.copy(this.bytes, this.used, start, end);
    const id = this.n++;
    this.used += len;
    this.starts[id + 1] = this.used;
    if (this.n * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.slots[slot] = id + 1;
    return id;
  }

  key(id: number): string {
    return this.bytes.toString('utf8', this.starts[id], this.starts[id + 1]);
  }

  /** Gives back spare capacity once loading is done (one copy of each array). */
  trim(): void {
    if (this.bytes.length > this.used * 1.1) this.bytes = Buffer.from(this.bytes.subarray(0, this.used));
    if (this.starts.length > (this.n + 1) * 1.1) this.starts = this.starts.slice(0, this.n + 1);
  }

  private place(id: number): void {
    for (let s = hashBytes(this.bytes, this.starts[id], this.starts[id + 1]) & this.mask; ; s = (s + 1) & this.mask) {
      if (this.slots[s] === 0) {
        this.slots[s] = id + 1;
        return;
      }
    }
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let id = 0; id < this.n; id++) this.place(id);
  }
}
