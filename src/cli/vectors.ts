import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { UsageError } from './io.js';
import { exists, scanLines } from './files.js';
import { parseNpyHeader } from './npy.js';
import { idsPath } from './output-npy.js';

/** Vectors as `search` ranks them: rows back to back in one allocation, and their ids. */
export interface VectorSet {
  ids: string[];
  matrix: Float32Array;
  dimensions: number;
}

/** Loads what `embed` wrote: `.jsonl`, or `.npy` with its `.ids.txt`. */
export async function loadVectors(path: string): Promise<VectorSet> {
  const extension = extname(path).toLowerCase();
  if (extension === '.npy') return loadNpy(path);
  if (extension === '.jsonl' || extension === '.ndjson') return loadJsonl(path);
  throw new UsageError(`vectors '${path}' must be a .jsonl or .npy file written by embedrail embed`);
}

async function loadJsonl(path: string): Promise<VectorSet> {
  const ids: string[] = [];
  let matrix = new Float32Array(0);
  let dimensions = 0;
  await scanLines(path, (line, number) => {
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
        throw new UsageError(`'${path}' line ${number}: embedding[${i}] must be a finite number (got ${JSON.stringify(x)})`);
      }
    }
    // Grow by doubling so loading n rows copies O(n) floats in all.
    if ((ids.length + 1) * dimensions > matrix.length) {
      const grown = new Float32Array(Math.max(1024 * dimensions, matrix.length * 2));
      grown.set(matrix);
      matrix = grown;
    }
    matrix.set(embedding as number[], ids.length * dimensions);
    ids.push(id);
  });
  return { ids, matrix: matrix.subarray(0, ids.length * dimensions), dimensions };
}

async function loadNpy(path: string): Promise<VectorSet> {
  const ids: string[] = [];
  const idsFile = idsPath(path);
  if (!(await exists(idsFile))) throw new UsageError(`'${path}' has no ids file beside it (expected '${idsFile}')`);
  await scanLines(idsFile, (line) => ids.push(line.toString('utf8')));
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 4096));
    readSync(fd, head, 0, head.length, 0);
    let info: ReturnType<typeof parseNpyHeader>;
    try {
      info = parseNpyHeader(head);
    } catch (error) {
      throw new UsageError(`'${path}': ${(error as Error).message}`);
    }
    const { rows, dimensions, dataOffset } = info;
    if (size < dataOffset + rows * dimensions * 4) throw new UsageError(`'${path}' is shorter than its shape (${rows}, ${dimensions})`);
    // More ids than rows is a run killed before it rewrote the header: trust the header, as numpy does.
    if (ids.length < rows) throw new UsageError(`'${path}' has ${rows} rows but '${idsFile}' has ${ids.length} ids`);
    ids.length = rows;
    const bytes = Buffer.alloc(rows * dimensions * 4);
    readSync(fd, bytes, 0, bytes.length, dataOffset);
    const matrix = new Float32Array(rows * dimensions);
    for (let i = 0; i < matrix.length; i++) matrix[i] = bytes.readFloatLE(4 * i);
    return { ids, matrix, dimensions };
  } finally {
    closeSync(fd);
  }
}
