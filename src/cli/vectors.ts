import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { extname } from 'node:path';
import { UsageError } from './io.js';
import { exists, scanLines } from './files.js';
import { parseNpyHeader } from './npy.js';
import { idsPath } from './output-npy.js';

/** Rows of a vectors file, back to back: `matrix` holds `ids.length` rows of `dimensions`. */
export interface VectorChunk {
  /** Row number (0-based, in the file) of the chunk's first row. */
  first: number;
  /** Valid only during the callback: the next chunk reuses its memory. */
  matrix: Float32Array;
  /** The rows' ids, when the format keeps them beside the rows (.jsonl). */
  ids?: string[];
}

/**
 * A vectors file written by `embed`, checked but not loaded: `search` scans it in chunks, so
 * memory stays at one chunk whatever the file's size.
 */
export interface VectorFile {
  rows: number;
  dimensions: number;
  /** Calls `onChunk` for consecutive chunks of at most `rowsPerChunk` rows, in file order. */
  scan(rowsPerChunk: number, onChunk: (chunk: VectorChunk) => void): Promise<void>;
  /** The ids of the given rows, for a format whose chunks carry none (.npy). */
  idsOf?(rows: readonly number[]): Promise<Map<number, string>>;
}

/**
 * Opens what `embed` wrote, `.jsonl`, or `.npy` with its `.ids.txt`, and checks all of it
 * (shape, ids, every `.jsonl` line), so a broken file is reported before the query is sent.
 */
export async function openVectors(path: string): Promise<VectorFile> {
  const extension = extname(path).toLowerCase();
  if (extension === '.npy') return openNpy(path);
  if (extension === '.jsonl' || extension === '.ndjson') return openJsonl(path);
  throw new UsageError(`vectors '${path}' must be a .jsonl or .npy file written by embedrail embed`);
}

/** Reads `.jsonl` records, checking each; `onRecord` gets the row number, id and vector. */
function scanJsonl(path: string, onRecord: (row: number, id: string, embedding: number[]) => void): Promise<number> {
  let dimensions = 0;
  let row = 0;
  return scanLines(path, (line, number) => {
    if (line.length === 0) return;
    let record: { id?: unknown; embedding?: unknown };
    try {
      record = JSON.parse(line.toString('utf8')) as typeof record;
    } catch {
      throw new UsageError(`'${path}' line ${number} is not valid JSON`);
    }
    const { id, embedding } = record ?? {};
    if (typeof id !== 'string' || !Array.isArray(embedding) || embedding.length === 0) {
      throw new UsageError(`'${path}' line ${number} is not an {"id","embedding"} record`);
    }
    if (dimensions === 0) dimensions = embedding.length;
    if (embedding.length !== dimensions) {
      throw new UsageError(`'${path}' line ${number} has ${embedding.length} dimensions, line 1 has ${dimensions}`);
    }
    // Float32Array.set would turn "0.5" into 0.5 and null into 0 without a word.
    for (let i = 0; i < embedding.length; i++) {
      const x: unknown = embedding[i];
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw new UsageError(
          `'${path}' line ${number}: embedding[${i}] must be a finite number (got ${JSON.stringify(x)})`,
        );
      }
    }
    onRecord(row++, id, embedding as number[]);
  });
}

async function openJsonl(path: string): Promise<VectorFile> {
  // A first pass checks every line and counts; the scan parses again rather than keep the vectors.
  let rows = 0;
  let dimensions = 0;
  await scanJsonl(path, (_row, _id, embedding) => {
    rows++;
    dimensions = embedding.length;
  });
  return {
    rows,
    dimensions,
    async scan(rowsPerChunk, onChunk) {
      const matrix = new Float32Array(rowsPerChunk * dimensions);
      let ids: string[] = [];
      let first = 0;
      await scanJsonl(path, (row, id, embedding) => {
        matrix.set(embedding, ids.length * dimensions);
        ids.push(id);
        if (ids.length === rowsPerChunk) {
          onChunk({ first, matrix, ids });
          first = row + 1;
          ids = [];
        }
      });
      if (ids.length > 0) onChunk({ first, matrix: matrix.subarray(0, ids.length * dimensions), ids });
    },
  };
}

async function openNpy(path: string): Promise<VectorFile> {
  const idsFile = idsPath(path);
  if (!(await exists(idsFile))) throw new UsageError(`'${path}' has no ids file beside it (expected '${idsFile}')`);
  let idCount = 0;
  await scanLines(idsFile, () => idCount++);
  const file = await open(path, 'r');
  let info: ReturnType<typeof parseNpyHeader>;
  try {
    const size = (await file.stat()).size;
    const head = Buffer.alloc(Math.min(size, 4096));
    await file.read(head, 0, head.length, 0);
    try {
      info = parseNpyHeader(head);
    } catch (error) {
      throw new UsageError(`'${path}': ${(error as Error).message}`);
    }
    const { rows, dimensions, dataOffset } = info;
    if (size < dataOffset + rows * dimensions * 4)
      throw new UsageError(`'${path}' is shorter than its shape (${rows}, ${dimensions})`);
    // More ids than rows is a run killed before it rewrote the header: trust the header, as numpy does.
    if (idCount < rows) throw new UsageError(`'${path}' has ${rows} rows but '${idsFile}' has ${idCount} ids`);
  } finally {
    await file.close();
  }
  const { rows, dimensions, dataOffset } = info;
  return {
    rows,
    dimensions,
    async scan(rowsPerChunk, onChunk) {
      const rowBytes = dimensions * 4;
      const bytes = Buffer.alloc(Math.min(rowsPerChunk, rows) * rowBytes);
      // The file's rows are little-endian float32, which a little-endian host can view in place.
      const view = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      const matrix = endianness() === 'LE' ? view : new Float32Array(view.length);
      const handle = await open(path, 'r');
      try {
        for (let first = 0; first < rows; first += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, rows - first);
          const length = count * rowBytes;
          for (let done = 0; done < length;) {
            const { bytesRead } = await handle.read(bytes, done, length - done, dataOffset + first * rowBytes + done);
            if (bytesRead === 0) throw new UsageError(`'${path}' is shorter than its shape (${rows}, ${dimensions})`);
            done += bytesRead;
          }
          if (matrix !== view) for (let i = 0; i < count * dimensions; i++) matrix[i] = bytes.readFloatLE(4 * i);
          onChunk({ first, matrix: matrix.subarray(0, count * dimensions) });
        }
      } finally {
        await handle.close();
      }
    },
    async idsOf(wanted) {
      const lines = new Set(wanted.map((row) => row + 1));
      const found = new Map<number, string>();
      await scanLines(idsFile, (line, number) => {
        if (lines.has(number)) found.set(number - 1, line.toString('utf8'));
      });
      return found;
    },
  };
}
