/**
 * A collected batch's vectors as stored: one row per input of the batch, at the input's rank
 * among the batch's inputs (index order), so a row is written where it belongs as its line
 * arrives in any order, and read back in input order by a sequential cursor (rows-read.ts).
 * Both sides hold a window of a few MB, never the batch: memory does not grow with the
 * dimensions or the shard.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { LITTLE_ENDIAN_HOST } from '../decode.js';
import type { Ranges } from './journal.js';

/**
 * Layout of a batch's stored vectors: a 16-byte header (Uint32 `0x32565245` "ERV2", the rows,
 * the dimensions, 0), then `rows × dimensions` float32 values, little-endian. Row `r` holds
 * the vector of the batch's `r`-th input; rows of inputs without a vector are zeros.
 */
export const MAGIC = 0x32565245;
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
  /** The stored bytes themselves, for a target that is one block in memory (after `size`). */
  block?(): Buffer;
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
 * A target that is a block in memory takes each row straight at its place instead: sorting a
 * window there only copied each row twice more.
 */
export class RowWriter {
  #dims: number | undefined;
  /** Rows waiting, in the order they came, and the rank of each. */
  #rows: Buffer | undefined;
  #ranks: Uint32Array | undefined;
  #count = 0;
  /** The target's block, when it is one in memory: each row is copied straight to its place. */
  #block: Buffer | undefined;
  /** Committed or abandoned: the target, or the block handed on, is no longer the writer's. */
  #ended = false;

  constructor(
    private readonly ranks: Ranks,
    private readonly target: RowTarget,
    private readonly windowBytes = WINDOW_BYTES,
  ) {}

  /** Stores the vector of input `index` (of the batch: reconcile() checked it). */
  async put(index: number, vector: Float32Array): Promise<void> {
    if (this.#ended) throw new Error('a row put after the batch was committed or abandoned');
    const rank = this.ranks.rankOf(index);
    if (rank === undefined) throw new RangeError(`input ${index} is not one of the batch's`);
    if (this.#dims === undefined) {
      this.#dims = vector.length;
      await this.target.size(HEADER_BYTES + this.ranks.size * this.#dims * 4);
      this.#block = this.target.block?.();
      if (this.#block === undefined) {
        const windowRows = Math.max(1, Math.min(this.ranks.size, Math.floor(this.windowBytes / (this.#dims * 4))));
        this.#rows = Buffer.allocUnsafe(windowRows * this.#dims * 4);
        this.#ranks = new Uint32Array(windowRows);
      }
    } else if (vector.length !== this.#dims) {
      throw new RangeError(`a vector of ${vector.length} dimensions in a batch of ${this.#dims}`);
    }
    const rowBytes = this.#dims * 4;
    const block = this.#block;
    const [into, at] =
      block === undefined ? [this.#rows!, this.#count * rowBytes] : [block, HEADER_BYTES + rank * rowBytes];
    if (LITTLE_ENDIAN_HOST) into.set(new Uint8Array(vector.buffer, vector.byteOffset, rowBytes), at);
    else vector.forEach((value, j) => into.writeFloatLE(value, at + j * 4));
    if (block !== undefined) return;
    this.#ranks![this.#count++] = rank;
    if (this.#count === this.#ranks!.length) await this.#flush();
  }

  /** Writes what is left and the header, and closes the target. */
  async commit(): Promise<void> {
    this.#ended = true;
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
    this.#ended = true;
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
      // The file is new: its name must last too, or a crash could keep the journal's word and lose the file.
      await syncDirectory(dir);
    },
    abandon: () => handle.close(),
  };
}

/** fsyncs a folder's entries; where a folder cannot be opened for that (Windows), its files' own fsync is all there is. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EBADF'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** A target that fills one block of the stored size and hands it to `done` whole. */
export function blockTarget(done: (bytes: Uint8Array) => Promise<void>): RowTarget {
  let block: Buffer | undefined;
  return {
    async size(bytes) {
      block = Buffer.alloc(bytes);
    },
    block: () => block!,
    async write(position, bytes) {
      block!.set(bytes, position);
    },
    close: () => done(block!),
    async abandon() {
      block = undefined;
    },
  };
}
