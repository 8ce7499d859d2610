/**
 * The journal of a Batch API job: its state as JSON, written after every step and before the
 * next one starts, so a process killed at any moment resumes where it was. Vectors stay out of
 * it: each collected batch's vectors go to a results store of float32 bytes beside it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
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
  /** Set before the input file is uploaded: a rerun that finds no `fileId` looks for the file first. */
  uploading?: boolean;
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
 * a new one in full. `readResults`/`writeResults` keep each batch's vectors, one block of bytes
 * per batch (a 16-byte header, then a float32 row per input of the batch): the job holds one
 * batch's block in memory while it collects or reads that batch (366 MB for the 29,790 inputs
 * of a batch at 3,072 dimensions). A store without them keeps every batch's block in memory,
 * and a rerun downloads again what it lost. {@link fileJournal} writes and reads its files in
 * place instead, a few MB at a time.
 */
export interface BatchJournalStore {
  read(): Promise<BatchJobState | undefined> | BatchJobState | undefined;
  write(state: BatchJobState): Promise<void> | void;
  readResults?(key: string): Promise<Uint8Array | undefined>;
  writeResults?(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Removes every result stored. The job never calls it (a rerun of a finished job reads them to
   * answer without a request): call it once you have the vectors, e.g.
   * `await fileJournal(path).clearResults?.()`.
   */
  clearResults?(): Promise<void>;
}

/** What `read` gives, or undefined when the file it reads is not there. */
export async function unlessMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
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

/** The folder where a {@link fileJournal} writes each batch's vectors in place, a window at a time. */
const RESULTS_DIRS = new WeakMap<BatchJournalStore, string>();

/** Where the vectors of batch `key` go in a file journal's results folder `dir`. */
export function resultsPath(dir: string, key: string): string {
  return `${dir}/${key}.f32`;
}

/**
 * The folder where a store made by {@link fileJournal} keeps each batch's vectors
 * (`<path>.results`); undefined for any other store. What to show, measure or delete once the
 * vectors are out, named as the journal names it.
 * @example
 * const kept = resultsDirOf(fileJournal('corpus.job.json')); // 'corpus.job.json.results'
 */
export function resultsDirOf(store: BatchJournalStore): string | undefined {
  return RESULTS_DIRS.get(store);
}

/**
 * A journal in a file, with each batch's vectors in `<path>.results/<key>.f32`, written there
 * as their lines arrive and read back a window at a time: memory stays a few MB whatever the
 * dimensions. `readResults`/`writeResults` give or take one batch's file whole.
 */
export function fileJournal(path: string): BatchJournalStore {
  const resultsDir = `${path}.results`;
  const store: BatchJournalStore = {
    async read() {
      const text = await unlessMissing(readFile(path, 'utf8'));
      return text === undefined ? undefined : parseState(text, path);
    },
    write: (state) => writeAtomically(path, `${JSON.stringify(state)}\n`),
    readResults: (key) => unlessMissing(readFile(resultsPath(resultsDir, key))),
    writeResults: (key, bytes) => writeAtomically(resultsPath(resultsDir, key), bytes),
    clearResults: () => rm(resultsDir, { recursive: true, force: true }),
  };
  RESULTS_DIRS.set(store, resultsDir);
  return store;
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
