/**
 * Collects a finished batch: streams its output and error files line by line, sorts its
 * inputs out, stores its vectors apart from the journal, and plans the retry of what may
 * succeed if sent again. Then, once every batch is collected, assembles the job's answer.
 */
import { normalizeInPlace, toNumberArray } from '../decode.js';
import { EmbeddingsError } from '../errors.js';
import type { BatchFailure, CreateManyResponse } from '../batch/types.js';
import type { Embedding } from '../types.js';
import { errorOfFailure } from './errors.js';
import {
  decodeResults,
  encodeResults,
  toRanges,
  type BatchJournalStore,
  type JournalBatch,
  type JournalFailure,
} from './journal.js';
import { reconcile } from './reconcile.js';
import type { BatchResultLine } from '../resources/lines.js';
import type { BatchJobRunner } from './runner.js';
import type { BatchObject } from './types.js';

/** Each collected batch's vectors: in the journal's store when it keeps them, else in memory. */
export class ResultsStore {
  readonly #memory = new Map<string, Uint8Array>();

  constructor(private readonly store: BatchJournalStore | undefined) {}

  /** Results outlive the process: a collected batch's files are no longer needed. */
  get persistent(): boolean {
    return this.store?.writeResults !== undefined;
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    if (this.store?.writeResults !== undefined) await this.store.writeResults(key, bytes);
    else this.#memory.set(key, bytes);
  }

  async read(key: string): Promise<Uint8Array | undefined> {
    return this.#memory.get(key) ?? (await this.store?.readResults?.(key));
  }
}

/** Reads the lines of a batch's output and error files, one file after the other. */
async function* linesOf(runner: BatchJobRunner, batch: JournalBatch): AsyncGenerator<BatchResultLine> {
  for (const fileId of [batch.outputFileId, batch.errorFileId]) {
    if (fileId !== undefined) yield* runner.api.lines(fileId, runner.config.signal);
  }
}

/**
 * Sorts out a batch that reached a final status (its vectors stored before the journal says
 * so), and returns the batch that retries its retryable inputs, if they have attempts left.
 */
export async function collect(
  runner: BatchJobRunner,
  batch: JournalBatch,
  seen: BatchObject,
): Promise<JournalBatch | undefined> {
  const { state } = runner;
  const found = await reconcile(state.jobId, batch.inputs, linesOf(runner, batch), runner.config.params);
  await runner.results.write(batch.key, encodeResults(found.okIndices, found.vectors));
  const failed = found.terminal;
  let retry: JournalFailure[] = found.retryable;
  if (failedByServer(seen)) {
    // The batch failed on the provider's own error: its inputs never ran, and may run in another.
    const message = `the batch failed: ${seen.errors?.data?.[0]?.message ?? 'server_error'}`;
    retry = retry.map((f) =>
      f.code === 'missing_from_output' ? { index: f.index, code: 'batch_failed', message } : f,
    );
  }
  // A batch that failed (its file refused) or was cancelled would fail the same way again.
  const reason = stoppedReason(seen, state.cancelled === true);
  if (reason !== undefined) {
    for (const failure of retry) {
      failed.push(failure.code === 'missing_from_output' ? { index: failure.index, ...reason } : failure);
    }
    retry = [];
  } else if (batch.attempt >= runner.config.maxAttempts) {
    failed.push(...retry);
    retry = [];
  }
  batch.collected = {
    ok: found.okIndices.length,
    failed,
    retry: toRanges(retry.map((f) => f.index)),
    tokens: found.tokens,
  };
  if (retry.length === 0) return undefined;
  const next: JournalBatch = {
    key: `s${batch.shard}.${batch.attempt + 1}`,
    shard: batch.shard,
    attempt: batch.attempt + 1,
    inputs: batch.collected.retry,
    submissions: 0,
  };
  // Two batches of one shard may retry at the same attempt (after a split of the shard's inputs): keep keys unique.
  const taken = new Set(state.batches.map((b) => b.key));
  for (let n = 2; taken.has(next.key); n++) next.key = `s${batch.shard}.${batch.attempt + 1}-${n}`;
  batch.collected.retriedIn = next.key;
  return next;
}

/** Codes of a failed batch that are the provider's fault, not its input file's. */
const SERVER_FAULTS = new Set(['server_error', 'internal_error']);

function failedByServer(seen: BatchObject): boolean {
  const errors = seen.errors?.data ?? [];
  return seen.status === 'failed' && errors.length > 0 && errors.every((e) => SERVER_FAULTS.has(e.code ?? ''));
}

/** Why the inputs of a batch that stopped will not run if sent again: it was cancelled, or its file refused. */
function stoppedReason(seen: BatchObject, cancelled: boolean): { code: string; message: string } | undefined {
  if (seen.status === 'cancelled' || cancelled) {
    return { code: 'batch_cancelled', message: 'the batch was cancelled before this input ran' };
  }
  if (seen.status === 'failed' && !failedByServer(seen)) {
    const first = seen.errors?.data?.[0];
    return { code: 'batch_failed', message: `the batch failed: ${first?.message ?? first?.code ?? 'no reason given'}` };
  }
  return undefined;
}

/** The job's answer in createMany()'s shape, from every collected batch. */
export async function assemble(
  runner: BatchJobRunner,
  shape: { normalize: boolean; vectorType: 'array' | 'float32' },
): Promise<CreateManyResponse<number[] | Float32Array>> {
  const { state, plan } = runner;
  const vectors = new Array<number[] | Float32Array | undefined>(state.totalInputs);
  const failures: BatchFailure[] = [];
  let tokens = 0;
  for (const batch of state.batches) {
    const collected = batch.collected!;
    tokens += collected.tokens;
    if (collected.ok > 0) {
      const { indices, vectors: raw } = decodeResults(await readResults(runner, batch));
      indices.forEach((index, i) => {
        let vector: number[] | Float32Array = shape.vectorType === 'array' ? toNumberArray(raw[i]!) : raw[i]!;
        if (shape.normalize) vector = normalizeInPlace(vector);
        vectors[index] = vector;
      });
    }
    for (const failure of collected.failed) {
      const id = plan.ids?.[failure.index];
      failures.push({ index: failure.index, ...(id === undefined ? {} : { id }), error: errorOfFailure(failure) });
    }
  }
  const data: Embedding<number[] | Float32Array>[] = [];
  vectors.forEach((embedding, index) => {
    if (embedding !== undefined) data.push({ object: 'embedding', index, embedding });
  });
  failures.sort((a, b) => a.index - b.index);
  if (data.length + failures.length !== state.totalInputs) {
    throw new EmbeddingsError(
      `runBatchJob: the journal accounts for ${data.length + failures.length} of ${state.totalInputs} inputs`,
    );
  }
  return {
    object: 'list',
    data,
    model: state.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
    failures,
  };
}

/** The stored vectors of a collected `batch`. */
export async function readResults(runner: BatchJobRunner, batch: JournalBatch): Promise<Uint8Array> {
  // Vectors kept in memory by a store without readResults are gone after a restart: read the output again.
  return (await runner.results.read(batch.key)) ?? (await recollect(runner, batch));
}

async function recollect(runner: BatchJobRunner, batch: JournalBatch): Promise<Uint8Array> {
  if (runner.state.filesDeleted || batch.outputFileId === undefined) {
    throw new EmbeddingsError(
      `runBatchJob: the vectors of batch ${batch.key} were not kept by the journal's store and its files are deleted; give the store readResults() and writeResults()`,
    );
  }
  const found = await reconcile(runner.state.jobId, batch.inputs, linesOf(runner, batch), runner.config.params);
  const bytes = encodeResults(found.okIndices, found.vectors);
  await runner.results.write(batch.key, bytes);
  return bytes;
}

/** Deletes every file of the job (inputs, outputs, errors) not deleted yet; a file already gone is fine. */
export async function deleteFiles(runner: BatchJobRunner): Promise<void> {
  const ids = new Set<string>();
  for (const batch of runner.state.batches) {
    if (batch.filesDeleted) continue;
    for (const id of [batch.fileId, batch.outputFileId, batch.errorFileId]) if (id !== undefined) ids.add(id);
  }
  for (const id of ids) await runner.api.deleteFile(id);
  runner.state.filesDeleted = true;
  await runner.save();
}

/** Deletes the files of one collected batch, and journals that they are gone. */
export async function deleteBatchFiles(runner: BatchJobRunner, batch: JournalBatch): Promise<void> {
  for (const id of [batch.fileId, batch.outputFileId, batch.errorFileId]) {
    if (id !== undefined) await runner.api.deleteFile(id);
  }
  batch.filesDeleted = true;
  await runner.save();
}
