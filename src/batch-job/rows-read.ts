/**
 * Reads a collected batch's stored vectors (see rows.ts for their layout): from a file, a range
 * of rows at a time, or from a block a store handed back; and walks them forward in windows.
 */
import { open, readFile } from 'node:fs/promises';
import { LITTLE_ENDIAN_HOST } from '../decode.js';
import { unlessMissing } from './journal.js';
import { HEADER_BYTES, MAGIC, WINDOW_BYTES, type Ranks } from './rows.js';

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
  const handle = await unlessMissing(open(path, 'r'));
  if (handle === undefined) return undefined;
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
      const windowRows = Math.max(1, Math.min(rows, Math.floor(this.windowBytes / Math.max(1, rowBytes))));
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
