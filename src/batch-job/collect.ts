/**
 * Collects a finished batch: streams its output and error files line by line, sorts its
 * inputs out, stores its vectors apart from the journal as they arrive, and plans the retry of
 * what may succeed if sent again. Deletes the job's files once their vectors are stored.
 */
import { EmbeddingsError } from '../errors.js';
import {
  resultsDirOf,
  resultsPath,
  toRanges,
  type BatchJournalStore,
  type JournalBatch,
  type JournalFailure,
} from './journal.js';
import { reconcile, type Reconciled } from './reconcile.js';
import { blockTarget, fileTarget, Ranks, RowWriter } from './rows.js';
import { blockSource, fileSource, type RowSource } from './rows-read.js';
import type { BatchResultLine } from '../resources/lines.js';
import type { BatchJobRunner } from './runner.js';
import type { BatchObject } from './types.js';

/**
 * Each collected batch's vectors: in the files of a file journal (written and read in place), in
 * the blocks of a store with `writeResults`, else in memory.
 */
export class ResultsStore {
  readonly #memory = new Map<string, Uint8Array>();
  readonly #dir: string | undefined;

  constructor(private readonly store: BatchJournalStore | undefined) {
    this.#dir = store === undefined ? undefined : resultsDirOf(store);
  }

  /** Results outlive the process: a collected batch's files are no longer needed. */
  get persistent(): boolean {
    return this.#dir !== undefined || this.store?.writeResults !== undefined;
  }

  /** A writer of the vectors of batch `key`, whose inputs have `ranks`. */
  async writer(key: string, ranks: Ranks): Promise<RowWriter> {
    if (this.#dir !== undefined) return new RowWriter(ranks, await fileTarget(this.#dir, resultsPath(this.#dir, key)));
    const { store } = this;
    return new RowWriter(
      ranks,
      blockTarget(async (bytes) => {
        if (store?.writeResults !== undefined) await store.writeResults(key, bytes);
        else this.#memory.set(key, bytes);
      }),
    );
  }

  /** The stored vectors of batch `key`, or undefined when they were not kept. */
  async source(key: string, ranks: Ranks): Promise<RowSource | undefined> {
    if (this.#dir !== undefined) return fileSource(resultsPath(this.#dir, key), key, ranks);
    const block = this.#memory.get(key) ?? (await this.store?.readResults?.(key));
    return block === undefined ? undefined : blockSource(block, key, ranks);
  }
}

/**
 * Reads the lines of a batch's output and error files, one file after the other. A file the
 * provider no longer has (deleted when the job was collected before, its journal since lost, or
 * expired) has none (see `BatchApiPort.lines`): its inputs are missing from the output, and go
 * again in a retry batch.
 */
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
  const found = await storeVectors(runner, batch);
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
    ok: found.ok,
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

/**
 * Reads the batch's output and error files and writes each vector to the results store as its
 * line arrives; the store has them all (fsynced, for a file journal) when this resolves. A
 * batch collected again after a crash is written again from the start, in the same places.
 */
async function storeVectors(runner: BatchJobRunner, batch: JournalBatch): Promise<Reconciled> {
  const writer = await runner.results.writer(batch.key, new Ranks(batch.inputs));
  try {
    const found = await reconcile(
      runner.state.jobId,
      batch.inputs,
      linesOf(runner, batch),
      runner.config.params,
      (index, vector) => writer.put(index, vector),
    );
    await writer.commit();
    return found;
  } catch (error) {
    // What stopped the collection is the error to report, not a failure to let go of the file.
    await writer.abandon().catch(() => {});
    throw error;
  }
}

/** The stored vectors of a collected `batch`. */
export async function sourceOf(runner: BatchJobRunner, batch: JournalBatch): Promise<RowSource> {
  const ranks = new Ranks(batch.inputs);
  const stored = await runner.results.source(batch.key, ranks);
  if (stored !== undefined) return stored;
  // Vectors kept in memory by a store without readResults are gone after a restart: read the output again.
  if (runner.state.filesDeleted || batch.outputFileId === undefined) {
    throw new EmbeddingsError(
      `runBatchJob: the vectors of batch ${batch.key} were not kept by the journal's store and its files are deleted; give the store readResults() and writeResults()`,
    );
  }
  await storeVectors(runner, batch);
  return (await runner.results.source(batch.key, ranks))!;
}

/** Deletes every file of the job (inputs, outputs, errors) not deleted yet; a file already gone is fine. */
export async function deleteFiles(runner: BatchJobRunner): Promise<void> {
  // Journalled once at the end, not per batch: a rerun deletes again what was gone already.
  for (const batch of runner.state.batches) if (!batch.filesDeleted) await removeFiles(runner, batch);
  await runner.markFilesDeleted();
}

/** Deletes the files of one collected batch, and journals that they are gone. */
export async function deleteBatchFiles(runner: BatchJobRunner, batch: JournalBatch): Promise<void> {
  await removeFiles(runner, batch);
  await runner.save();
}

async function removeFiles(runner: BatchJobRunner, batch: JournalBatch): Promise<void> {
  for (const id of [batch.fileId, batch.outputFileId, batch.errorFileId]) {
    if (id !== undefined) await runner.api.deleteFile(id);
  }
  batch.filesDeleted = true;
}
