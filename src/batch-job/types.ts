/** Public types of `runBatchJob()`: params, options, progress, and the port it reaches the Batch API through. */
import type { VectorType } from '../options.js';
import type { Tokenizer } from '../tokenizer.js';
import type { BatchParams, StreamInput } from '../batch/types.js';
import type { BatchJournalStore } from './journal.js';
import type { BatchResultLine } from '../resources/lines.js';

/** Params of `runBatchJob()`: `createMany()`'s, with an input that may also be read lazily. */
export interface BatchJobParams extends BatchParams {
  /** The texts (or `{ id, text }`): an array, an iterable or an async iterable. Read whole before anything is uploaded. */
  input: string | readonly StreamInput[] | Iterable<StreamInput> | AsyncIterable<StreamInput>;
}

/** Counters of a Batch API job, reported after every step. */
export interface BatchJobProgress {
  /** The job's id, which every `custom_id` and batch `metadata.embedrail_job` carries. */
  jobId: string;
  totalInputs: number;
  /** Inputs with a vector. */
  completedInputs: number;
  /** Inputs that ended as failures. */
  failedInputs: number;
  /** Inputs sent again after a retryable failure (each time counted). */
  retriedInputs: number;
  /** The job's batches by their last known status (`validating`, `in_progress`, `completed`...; `pending` before creation). */
  batches: Record<string, number>;
  /** @unit ms since this call started. */
  elapsedMs: number;
}

/** Options of `runBatchJob()`. */
export interface BatchJobOptions<V extends VectorType = VectorType> {
  /**
   * Where the job's state is kept, so a rerun resumes it: a file path (written atomically, the
   * vectors in `<path>.results/`), or any `{ read(), write(state) }` store. Without one, a
   * process that dies loses the job (its batches keep running at the provider).
   */
  journal?: string | BatchJournalStore;
  /**
   * Time between status checks of the job's batches; it grows up to eight times as long while
   * nothing changes.
   * @unit ms
   * @default 15000
   */
  pollInterval?: number;
  /**
   * Inputs per batch (one per line). OpenAI takes at most 50,000 embedding inputs per batch.
   * @default 50000
   */
  maxInputsPerBatch?: number;
  /**
   * Bytes of one batch's input file. OpenAI takes at most 200 MB.
   * @unit bytes
   * @default 200000000
   */
  maxBatchBytes?: number;
  /**
   * Batches an input may be sent in: after a 429, a 5xx, an expired batch or a line in
   * neither file it is sent again, until this many attempts; then it is a failure.
   * @default 3
   */
  maxAttempts?: number;
  /** Called after every step (upload, creation, status change, collection). */
  onProgress?: (progress: BatchJobProgress) => void;
  /** Stops waiting at once; the journal stays as it was, so a rerun resumes. The batches keep running. */
  signal?: AbortSignal | undefined;
  /**
   * Scale every vector to L2 norm 1.
   * @default the client's `normalize` (true unless set)
   */
  normalize?: boolean;
  /**
   * `number[]` or `Float32Array` vectors (`'float32-view'` is taken as `'float32'`).
   * @default the client's `vectorType` ('array' unless set)
   */
  vectorType?: V;
  /**
   * `'throw'`: reject with `BatchEmbeddingError` holding every vector and every failure.
   * `'collect'`: resolve with `failures` on the result.
   * @default 'throw'
   */
  onFailure?: 'throw' | 'collect';
  /**
   * Cancel the batches of the job in `journal` instead of waiting for them; the call then
   * collects what they finished and resolves as a job that ended (the rest as failures).
   * @default false
   */
  cancel?: boolean;
  /**
   * Resolve once every batch is submitted, without waiting for results; a later call with the
   * same journal collects them.
   * @default false
   */
  detach?: boolean;
  /**
   * The job's id (`[A-Za-z0-9_-]`, at most 64), which every `custom_id` and batch
   * `metadata.embedrail_job` carries. Give a lost journal's job id (from `onProgress`, or the
   * batches' metadata) with a new, empty journal and the same input: the job's batches are
   * found in `batches.list` and adopted instead of created again.
   * @default a random id, kept in the journal
   */
  jobId?: string;
  /** @default 8192, as `createMany()` */
  maxTokensPerInput?: number;
  /** @default false, as `createMany()` */
  truncate?: boolean;
  /** Counts and cuts tokens, as in `createMany()`. */
  tokenizer?: Tokenizer;
}

/** What a detached call resolves with: the job submitted, its results to be collected later. */
export interface BatchJobSubmitted {
  object: 'batch_job.submitted';
  jobId: string;
  progress: BatchJobProgress;
}

/** A Batch API batch as the job reads it (openai-node's `Batch`, the fields used). */
export interface BatchObject {
  id: string;
  status: string;
  input_file_id?: string | undefined;
  output_file_id?: string | null | undefined;
  error_file_id?: string | null | undefined;
  errors?:
    | { data?: { code?: string | null | undefined; message?: string | null | undefined }[] | undefined }
    | null
    | undefined;
  metadata?: Record<string, string> | null | undefined;
}

/** The Files and Batches endpoints, as the job uses them. */
export interface BatchApiPort {
  /** Uploads `body`: bytes, or a file on disk (streamed from it). */
  upload(filename: string, body: Buffer | { path: string }, signal: AbortSignal): Promise<string>;
  /** The lines of a batch's output or error file; none for a file the provider no longer has (deleted, expired). */
  lines(fileId: string, signal: AbortSignal): AsyncIterable<BatchResultLine>;
  /** The organisation's batch input files, to find one uploaded by a run killed before it journaled the id. */
  listFiles(signal: AbortSignal): AsyncIterable<{ id: string; filename: string }>;
  deleteFile(fileId: string): Promise<void>;
  create(inputFileId: string, metadata: Record<string, string>, signal: AbortSignal): Promise<BatchObject>;
  retrieve(batchId: string, signal: AbortSignal): Promise<BatchObject>;
  cancel(batchId: string): Promise<BatchObject>;
  list(signal: AbortSignal): AsyncIterable<BatchObject>;
}
