/**
 * A collected batch's vectors as stored: one row per input of the batch, at the input's rank
 * among the batch's inputs (index order), so a row is written where it belongs as its line
 * arrives in any order, and read back in input order by a sequential cursor. Both sides hold
 * a window of a few MB, never the batch: memory does not grow with the dimensions or the shard.
 */
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { LITTLE_ENDIAN_HOST } from '../decode.js';
import type { Ranges } from './journal.js';

/**
 * Layout of a batch's stored vectors: a 16-byte header (Uint32 `0x32565245` "ERV2", the rows,
 * the dimensions, 0), then `rows × dimensions` float32 values, little-endian. Row `r` holds
 * the vector of the batch's `r`-th input; rows of inputs without a vector are zeros.
 */
const MAGIC = 0x32565245;
export const HEADER_BYTES = 16;
/** Bytes of vectors a writer gathers before writing them, and a reader reads at once. @unit bytes */
export const WINDOW_BYTES = 4 * 1024 * 1024;

/** Ranks of input indices in a batch's inputs: its `r`-th input, counted in index order. */
export class Ranks {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  /** Rank of each range's first index. */
  readonly #before: number[] = [];
  readonly size: number;

  constructor(ranges: Ranges) {
    let size = 0;
    for (const [start, end] of ranges) {
      this.#starts.push(start);
      this.#ends.push(end);
      this.#before.push(size);
      size += end - start;
    }
    this.size = size;
  }

  /** The rank of input `index`, or undefined when the batch does not hold it. */
  rankOf(index: number): number | undefined {
    let low = 0;
    let high = this.#starts.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (index < this.#starts[mid]!) high = mid - 1;
      else if (index >= this.#ends[mid]!) low = mid + 1;
      else return this.#before[mid]! + index - this.#starts[mid]!;
    }
    return undefined;
  }
}

/** Where a writer puts its bytes: a file written in place, or one block handed over whole. */
export interface RowTarget {
  /** The stored size, known once the dimensions are (before the first write). @unit bytes */
  size(bytes: number): Promise<void>;
  write(position: number, bytes: Uint8Array): Promise<void>;
  /** Everything was written: make it last (fsync, or hand the block to the store). */
  close(): Promise<void>;
  /** Collection failed: let go of the target; a rerun writes it again from the start. */
  abandon(): Promise<void>;
}

/**
 * Writes a batch's vectors as their lines arrive: they are copied into a window of
 * `windowBytes`, and when it is full it goes out sorted by rank, each run of consecutive rows
 * in one positioned write. One block per batch, no object per row: the window is all it holds.
 */
export class RowWriter {
  #dims: number | undefined;
  /** Rows waiting, in the order they came, and the rank of each. */
  #rows: Buffer | undefined;
  #ranks: Uint32Array | undefined;
  #count = 0;

  constructor(
    private readonly ranks: Ranks,
    private readonly target: RowTarget,
    private readonly windowBytes = WINDOW_BYTES,
  ) {}

  /** Stores the vector of input `index` (of the batch: reconcile() checked it). */
  async put(index: number, vector: Float32Array): Promise<void> {
    const rank = this.ranks.rankOf(index);
    if (rank === undefined) throw new RangeError(`input ${index} is not one of the batch's`);
    if (this.#dims === undefined) {
      this.#dims = vector.length;
      await this.target.size(HEADER_BYTES + this.ranks.size * this.#dims * 4);
      const windowRows = Math.max(1, Math.min(this.ranks.size, Math.floor(this.windowBytes / (this.#dims * 4))));
      this.#rows = Buffer.allocUnsafe(windowRows * this.#dims * 4);
      this.#ranks = new Uint32Array(windowRows);
    } else if (vector.length !== this.#dims) {
      throw new RangeError(`a vector of ${vector.length} dimensions in a batch of ${this.#dims}`);
    }
    const rowBytes = this.#dims * 4;
    const at = this.#count * rowBytes;
    if (LITTLE_ENDIAN_HOST) this.#rows!.set(new Uint8Array(vector.buffer, vector.byteOffset, rowBytes), at);
    else vector.forEach((value, j) => this.#rows!.writeFloatLE(value, at + j * 4));
    this.#ranks![this.#count++] = rank;
    if (this.#count === this.#ranks!.length) await this.#flush();
  }

  /** Writes what is left and the header, and closes the target. */
  async commit(): Promise<void> {
    await this.#flush();
    if (this.#dims === undefined) {
      this.#dims = 0;
      await this.target.size(HEADER_BYTES);
    }
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(this.ranks.size, 4);
    header.writeUInt32LE(this.#dims, 8);
    await this.target.write(0, header);
    await this.target.close();
  }

  /** Collection failed: nothing more is written; a rerun collects the batch again. */
  async abandon(): Promise<void> {
    this.#count = 0;
    await this.target.abandon();
  }

  async #flush(): Promise<void> {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    const rows = this.#rows!;
    const rowBytes = this.#dims! * 4;
    const ranks = this.#ranks!.subarray(0, count);
    const order = sortedSlots(ranks);
    permuteRows(rows, rowBytes, order);
    const sorted = Uint32Array.from(order, (slot) => ranks[slot]!);
    let runStart = 0;
    for (let i = 0; i < count; i++) {
      if (i + 1 === count || sorted[i + 1] !== sorted[i]! + 1) {
        const position = HEADER_BYTES + sorted[runStart]! * rowBytes;
        await this.target.write(position, rows.subarray(runStart * rowBytes, (i + 1) * rowBytes));
        runStart = i + 1;
      }
    }
  }
}

/** Slots `0 .. ranks.length - 1` in the order of their ranks. */
function sortedSlots(ranks: Uint32Array): Uint32Array {
  return Uint32Array.from(ranks.keys()).sort((a, b) => ranks[a]! - ranks[b]!);
}

/** Moves the rows of `rows` in place so that row `k` is the one that was in slot `order[k]`, cycle by cycle. */
function permuteRows(rows: Buffer, rowBytes: number, order: Uint32Array): void {
  const placed = new Uint8Array(order.length);
  const held = Buffer.allocUnsafe(rowBytes);
  for (let start = 0; start < order.length; start++) {
    if (placed[start] === 1 || order[start] === start) continue;
    rows.copy(held, 0, start * rowBytes, (start + 1) * rowBytes);
    for (let k = start; ;) {
      placed[k] = 1;
      const from = order[k]!;
      if (from === start) {
        held.copy(rows, k * rowBytes);
        break;
      }
      rows.copy(rows, k * rowBytes, from * rowBytes, (from + 1) * rowBytes);
      k = from;
    }
  }
}

/** A target that writes `path` in place, fsynced before it counts as written. */
export async function fileTarget(dir: string, path: string): Promise<RowTarget> {
  await mkdir(dir, { recursive: true });
  // Truncated: a batch collected again after a crash is written again from the start.
  const handle = await open(path, 'w');
  return {
    size: (bytes) => handle.truncate(bytes),
    async write(position, bytes) {
      // A write may stop short (as write(2) may): the rest goes again from there.
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
    },
    async close() {
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    abandon: () => handle.close(),
  };
}

/** A target that fills one block of the stored size and hands it to `done` whole. */
export function blockTarget(done: (bytes: Uint8Array) => Promise<void>): RowTarget {
  let block: Buffer | undefined;
  return {
    async size(bytes) {
      block = Buffer.alloc(bytes);
    },
    async write(position, bytes) {
      block!.set(bytes, position);
    },
    close: () => done(block!),
    async abandon() {
      block = undefined;
    },
  };
}

/** A batch's stored vectors, read a range of rows at a time. */
export interface RowSource {
  readonly rows: number;
  readonly dims: number;
  /** Reads rows `rank .. rank + count - 1` into the start of `into`. */
  read(rank: number, count: number, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function headerOf(header: Buffer, size: number, name: string): { rows: number; dims: number } {
  if (size < HEADER_BYTES || header.readUInt32LE(0) !== MAGIC) {
    throw new RangeError(`the stored vectors of batch ${name} are not in embedrail's layout (no ERV2 header)`);
  }
  const rows = header.readUInt32LE(4);
  const dims = header.readUInt32LE(8);
  if (size !== HEADER_BYTES + rows * dims * 4) {
    throw new RangeError(
      `the stored vectors of batch ${name} take ${size} bytes, not ${rows} rows of ${dims} dimensions`,
    );
  }
  return { rows, dims };
}

/** Reads the vectors a block holds (a store's `readResults`, or the memory's). */
export function blockSource(block: Uint8Array, name: string, ranks: Ranks): RowSource {
  const buf = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  if (isLegacy(buf)) return blockSource(fromLegacy(buf, name, ranks), name, ranks);
  const { rows, dims } = headerOf(buf, buf.length, name);
  return {
    rows,
    dims,
    async read(rank, count, into) {
      const from = HEADER_BYTES + rank * dims * 4;
      into.set(buf.subarray(from, from + count * dims * 4));
    },
    async close() {},
  };
}

/** Reads the vectors of the file at `path`, or undefined when there is none. */
export async function fileSource(path: string, name: string, ranks: Ranks): Promise<RowSource | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(HEADER_BYTES);
    await handle.read(header, 0, Math.min(size, HEADER_BYTES), 0);
    if (isLegacy(header)) {
      await handle.close();
      return blockSource(await readFile(path), name, ranks);
    }
    const { rows, dims } = headerOf(header, size, name);
    return {
      rows,
      dims,
      async read(rank, count, into) {
        const length = count * dims * 4;
        for (let done = 0; done < length;) {
          const { bytesRead } = await handle.read(into, done, length - done, HEADER_BYTES + rank * dims * 4 + done);
          if (bytesRead === 0) throw new RangeError(`the stored vectors of batch ${name} end early`);
          done += bytesRead;
        }
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Journals written before this layout stored a Uint32 count and dimensions, the count's input
 * indices, then their vectors. Their first word is a count (at most 50,000), never the magic:
 * such a block is laid out again by rank, whole, so a job collected in part that way finishes.
 */
function isLegacy(buf: Buffer): boolean {
  return buf.length >= 8 && buf.readUInt32LE(0) !== MAGIC;
}

function fromLegacy(buf: Buffer, name: string, ranks: Ranks): Buffer {
  const count = buf.readUInt32LE(0);
  const dims = buf.readUInt32LE(4);
  if (buf.length !== 8 + count * 4 + count * dims * 4) {
    throw new RangeError(`the stored vectors of batch ${name} take ${buf.length} bytes, not ${count} of ${dims}`);
  }
  const out = Buffer.alloc(HEADER_BYTES + ranks.size * dims * 4);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(ranks.size, 4);
  out.writeUInt32LE(dims, 8);
  const at = 8 + count * 4;
  for (let i = 0; i < count; i++) {
    const index = buf.readUInt32LE(8 + i * 4);
    const rank = ranks.rankOf(index);
    if (rank === undefined) throw new RangeError(`the stored vectors of batch ${name} name input ${index}, not its`);
    buf.copy(out, HEADER_BYTES + rank * dims * 4, at + i * dims * 4, at + (i + 1) * dims * 4);
  }
  return out;
}

/** Reads a source's rows in rising rank order, a window at a time; each row owns its memory. */
export class RowCursor {
  #window: Buffer | undefined;
  #first = 0;
  #count = 0;

  constructor(
    readonly source: RowSource,
    private readonly windowBytes = WINDOW_BYTES,
  ) {}

  /** Closes the source and lets go of the window. */
  async close(): Promise<void> {
    this.#window = undefined;
    this.#count = 0;
    await this.source.close();
  }

  async row(rank: number): Promise<Float32Array> {
    const { dims, rows } = this.source;
    if (rank < 0 || rank >= rows) throw new RangeError(`row ${rank} of a batch of ${rows}`);
    const rowBytes = dims * 4;
    if (rank < this.#first || rank >= this.#first + this.#count) {
      const windowRows = Math.max(1, Math.floor(this.windowBytes / Math.max(1, rowBytes)));
      this.#window ??= Buffer.allocUnsafe(windowRows * rowBytes);
      this.#first = rank;
      this.#count = Math.min(windowRows, rows - rank);
      await this.source.read(rank, this.#count, this.#window);
    }
    const at = (rank - this.#first) * rowBytes;
    const vector = new Float32Array(dims);
    if (LITTLE_ENDIAN_HOST) new Uint8Array(vector.buffer).set(this.#window!.subarray(at, at + rowBytes));
    else for (let j = 0; j < dims; j++) vector[j] = this.#window!.readFloatLE(at + j * 4);
    return vector;
  }
}
