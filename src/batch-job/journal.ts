/**
 * The journal of a Batch API job: its state as JSON, written after every step and before the
 * next one starts, so a process killed at any moment resumes where it was. Vectors stay out of
 * it: each collected batch's vectors go to a results store of float32 bytes beside it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LITTLE_ENDIAN_HOST } from '../decode.js';
import { InvalidArgumentError } from '../errors.js';
import type { BatchJobProgress } from './types.js';

/** Inputs as runs of consecutive indices, `[start, end)`: a batch of 50,000 inputs is one pair. */
export type Ranges = [number, number][];

/** A failure as the journal keeps it: enough to rebuild the error. */
export interface JournalFailure {
  index: number;
  /** HTTP status of the line's answer, when it had one. */
  status?: number;
  code?: string;
  message: string;
  /** The answer's body, for a line that had one (kept small: an error object). */
  body?: unknown;
}

/** What collecting a finished batch found, by input. */
export interface Collected {
  /** Inputs with a vector, stored under the batch's key in the results store. */
  ok: number;
  /** Inputs that failed for good (a 400 on that input, or attempts exhausted). */
  failed: JournalFailure[];
  /** Inputs sent again in the batch `retriedIn` names. */
  retry: Ranges;
  retriedIn?: string;
  /** Prompt tokens the server counted for the inputs with a vector. */
  tokens: number;
}

/** One batch of the job: a planned shard, or the retry of another batch's retryable inputs. */
export interface JournalBatch {
  /** Unique in the job: `s3` for shard 3, `s3.2` for its second attempt. */
  key: string;
  shard: number;
  /** 1 for a shard's first batch; a retry is its parent's attempt + 1. */
  attempt: number;
  inputs: Ranges;
  /** Uploaded input file. */
  fileId?: string;
  /** Times this batch's file was submitted: a queue refusal submits it again. */
  submissions: number;
  /** Set before `batches.create` is called: a rerun that finds no `batchId` looks the batch up first. */
  creating?: boolean;
  batchId?: string;
  /** Last status seen. */
  status?: string;
  outputFileId?: string;
  errorFileId?: string;
  /** Not submitted before this time (epoch ms): the queue was full. */
  notBefore?: number;
  /** Set once its files were read and its inputs sorted out. */
  collected?: Collected;
  /** Its files were deleted once collected (its vectors being stored). */
  filesDeleted?: boolean;
}

/** The whole state of a job, as the journal stores it. */
export interface BatchJobState {
  version: 1;
  jobId: string;
  model: string;
  dimensions?: number;
  totalInputs: number;
  shards: { shard: number; firstIndex: number; count: number; sha256: string }[];
  batches: JournalBatch[];
  /** Set by `cancel: true`. */
  cancelled?: boolean;
  /** Files deleted at the end of the job. */
  filesDeleted?: boolean;
}

/**
 * Where a job keeps its state: `read()` the last state written (undefined when none), `write()`
 * a new one in full. `readResults`/`writeResults` keep each batch's vectors (float32 bytes);
 * a store without them keeps vectors in memory, and a rerun downloads again what it lost.
 */
export interface BatchJournalStore {
  read(): Promise<BatchJobState | undefined> | BatchJobState | undefined;
  write(state: BatchJobState): Promise<void> | void;
  readResults?(key: string): Promise<Uint8Array | undefined>;
  writeResults?(key: string, bytes: Uint8Array): Promise<void>;
  /** Removes every result stored, once the job has handed them over. */
  clearResults?(): Promise<void>;
}

/** Writes `bytes` to `path` whole or not at all: temp file, fsync, rename. */
export async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** A journal in a file, with each batch's vectors in `<path>.results/<key>.f32`. */
export function fileJournal(path: string): BatchJournalStore {
  const resultsDir = `${path}.results`;
  return {
    async read() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      return parseState(text, path);
    },
    write: (state) => writeAtomically(path, `${JSON.stringify(state)}\n`),
    async readResults(key) {
      try {
        return await readFile(`${resultsDir}/${key}.f32`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    writeResults: (key, bytes) => writeAtomically(`${resultsDir}/${key}.f32`, bytes),
    clearResults: () => rm(resultsDir, { recursive: true, force: true }),
  };
}

/** The store `journal` names: a path, or a store of the caller's (checked by the options' schema). */
export function journalStore(journal: string | BatchJournalStore | undefined): BatchJournalStore | undefined {
  if (journal === undefined) return undefined;
  if (typeof journal === 'string') {
    if (journal === '')
      throw new InvalidArgumentError('Invalid batch job options: `journal` must not be empty (got "")');
    return fileJournal(journal);
  }
  if (typeof journal.read !== 'function' || typeof journal.write !== 'function') {
    throw new InvalidArgumentError(
      `Invalid batch job options: \`journal\` must be a file path or an object with read() and write(state) (got ${typeof journal})`,
    );
  }
  return journal;
}

function parseState(text: string, path: string): BatchJobState {
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`The journal ${path} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const s = state as Partial<BatchJobState> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    s.version !== 1 ||
    typeof s.jobId !== 'string' ||
    !Array.isArray(s.batches)
  ) {
    throw new InvalidArgumentError(`The journal ${path} is not a batch job journal (version 1)`);
  }
  return s as BatchJobState;
}

/**
 * A batch's vectors as stored: a Uint32 count and dimensions, then `count` Uint32 input
 * indices, then `count × dimensions` float32 values, all little-endian.
 */
export function encodeResults(indices: readonly number[], vectors: readonly Float32Array[]): Uint8Array {
  const dims = vectors[0]?.length ?? 0;
  const out = Buffer.alloc(8 + indices.length * 4 + indices.length * dims * 4);
  out.writeUInt32LE(indices.length, 0);
  out.writeUInt32LE(dims, 4);
  indices.forEach((index, i) => out.writeUInt32LE(index, 8 + i * 4));
  const at = 8 + indices.length * 4;
  if (LITTLE_ENDIAN_HOST) {
    const values = new Float32Array(out.buffer, out.byteOffset + at, indices.length * dims);
    vectors.forEach((vector, i) => values.set(vector, i * dims));
  } else {
    vectors.forEach((vector, i) => vector.forEach((value, j) => out.writeFloatLE(value, at + (i * dims + j) * 4)));
  }
  return out;
}

/** The inverse of {@link encodeResults}; every vector owns its memory. */
export function decodeResults(bytes: Uint8Array): { indices: number[]; vectors: Float32Array[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new RangeError(`results of ${buf.length} bytes: too short for a header`);
  const count = buf.readUInt32LE(0);
  const dims = buf.readUInt32LE(4);
  if (buf.length !== 8 + count * 4 + count * dims * 4) {
    throw new RangeError(`results of ${buf.length} bytes do not hold ${count} vectors of ${dims} dimensions`);
  }
  const indices: number[] = [];
  for (let i = 0; i < count; i++) indices.push(buf.readUInt32LE(8 + i * 4));
  const vectors: Float32Array[] = [];
  const at = 8 + count * 4;
  for (let i = 0; i < count; i++) {
    const start = at + i * dims * 4;
    const vector = new Float32Array(dims);
    if (LITTLE_ENDIAN_HOST) new Uint8Array(vector.buffer).set(buf.subarray(start, start + dims * 4));
    else for (let j = 0; j < dims; j++) vector[j] = buf.readFloatLE(start + j * 4);
    vectors.push(vector);
  }
  return { indices, vectors };
}

/** Sorted indices as runs. */
export function toRanges(indices: Iterable<number>): Ranges {
  const sorted = [...indices].sort((a, b) => a - b);
  const ranges: Ranges = [];
  for (const index of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last[1] === index) last[1]++;
    else if (last === undefined || last[1] < index) ranges.push([index, index + 1]);
  }
  return ranges;
}

/** Every index in `ranges`, in order. */
export function* eachIndex(ranges: Ranges): Generator<number> {
  for (const [start, end] of ranges) for (let i = start; i < end; i++) yield i;
}

/** How many indices `ranges` hold. */
export function rangeSize(ranges: Ranges): number {
  return ranges.reduce((sum, [start, end]) => sum + end - start, 0);
}

/**
 * A job's counters as its journal records them: batches by last known status (`pending` before
 * creation), inputs with a vector, failed, and sent again. What `onProgress` reports, less the time.
 * @example
 * const state = await fileJournal('corpus.job.json').read();
 * if (state) console.log(batchJobProgress(state).batches);
 */
export function batchJobProgress(state: BatchJobState): Omit<BatchJobProgress, 'elapsedMs'> {
  const batches: Record<string, number> = {};
  let completedInputs = 0;
  let failedInputs = 0;
  let retriedInputs = 0;
  for (const batch of state.batches) {
    const status = batch.status ?? 'pending';
    batches[status] = (batches[status] ?? 0) + 1;
    if (batch.collected === undefined) continue;
    completedInputs += batch.collected.ok;
    failedInputs += batch.collected.failed.length;
    retriedInputs += rangeSize(batch.collected.retry);
  }
  return { jobId: state.jobId, totalInputs: state.totalInputs, completedInputs, failedInputs, retriedInputs, batches };
}
