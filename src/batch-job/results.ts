/**
 * A finished job's results one input at a time, in input order, read from each batch's stored
 * vectors: a shard's inputs are a contiguous range, held by its first batch and its retries,
 * each read by a cursor that moves forward a window of a few MB at a time. What is in memory
 * does not grow with the shard, the dimensions or the job.
 */
import { normalizeInPlace, toNumberArray } from '../decode.js';
import { EmbeddingsError } from '../errors.js';
import type { BatchFailure, CreateManyResponse, StreamItem } from '../batch/types.js';
import type { Embedding } from '../types.js';
import { errorOfFailure } from './errors.js';
import type { JournalBatch, JournalFailure } from './journal.js';
import { sourceOf } from './collect.js';
import { Ranks } from './rows.js';
import { RowCursor } from './rows-read.js';
import type { BatchJobRunner } from './runner.js';

type Shape = { normalize: boolean; vectorType: 'array' | 'float32' };

/** One batch of a shard as the walk reads it: where its inputs are, which went elsewhere, its cursor. */
interface BatchReader {
  batch: JournalBatch;
  ranks: Ranks;
  /** Inputs it sent on to a retry: their answer is in a later batch. */
  retried: Ranks;
  /** Opened at its first vector. */
  cursor?: RowCursor;
}

/** Every input of the collected job `runner` ran, as a vector or a failure, in input order. */
export async function* eachResult(
  runner: BatchJobRunner,
  shape: Shape,
): AsyncGenerator<StreamItem<number[] | Float32Array>, void, undefined> {
  const { state, plan } = runner;
  let next = 0;
  for (const shard of state.shards) {
    const failures = new Map<number, JournalFailure>();
    const readers: BatchReader[] = [];
    for (const batch of state.batches) {
      if (batch.shard !== shard.shard) continue;
      const collected = batch.collected!;
      for (const failure of collected.failed) failures.set(failure.index, failure);
      readers.push({ batch, ranks: new Ranks(batch.inputs), retried: new Ranks(collected.retry) });
    }
    try {
      for (let index = shard.firstIndex; index < shard.firstIndex + shard.count; index++) {
        if (index !== next) break;
        const id = plan.ids?.[index];
        const failure = failures.get(index);
        if (failure !== undefined) {
          yield { index, ...(id === undefined ? {} : { id }), error: errorOfFailure(failure) };
        } else {
          const raw = await vectorOf(runner, readers, index);
          if (raw === undefined) break;
          let embedding: number[] | Float32Array = shape.vectorType === 'array' ? toNumberArray(raw) : raw;
          if (shape.normalize) embedding = normalizeInPlace(embedding);
          yield { index, ...(id === undefined ? {} : { id }), embedding };
        }
        next++;
      }
    } finally {
      for (const reader of readers) await reader.cursor?.close();
    }
  }
  if (next !== state.totalInputs) {
    throw new EmbeddingsError(`runBatchJob: the journal accounts for inputs 0 to ${next - 1} of ${state.totalInputs}`);
  }
}

/**
 * The vector of input `index`, from the batch of its shard that held it and did not send it on
 * (it did not fail there either: failures were looked up first). Each own its memory.
 */
async function vectorOf(
  runner: BatchJobRunner,
  readers: BatchReader[],
  index: number,
): Promise<Float32Array | undefined> {
  for (const reader of readers) {
    const rank = reader.ranks.rankOf(index);
    if (rank === undefined || reader.retried.rankOf(index) !== undefined) continue;
    if (reader.batch.collected!.ok === 0) return undefined;
    reader.cursor ??= new RowCursor(await sourceOf(runner, reader.batch));
    return reader.cursor.row(rank);
  }
  return undefined;
}

/** The job's answer in createMany()'s shape, from every collected batch. */
export async function assemble(
  runner: BatchJobRunner,
  shape: Shape,
): Promise<CreateManyResponse<number[] | Float32Array>> {
  const { state } = runner;
  const data: Embedding<number[] | Float32Array>[] = [];
  const failures: BatchFailure[] = [];
  for await (const item of eachResult(runner, shape)) {
    if (item.error !== undefined) {
      failures.push({ index: item.index, ...(item.id === undefined ? {} : { id: item.id }), error: item.error });
    } else {
      data.push({ object: 'embedding', index: item.index, embedding: item.embedding });
    }
  }
  const tokens = state.batches.reduce((sum, batch) => sum + batch.collected!.tokens, 0);
  return {
    object: 'list',
    data,
    model: state.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
    failures,
  };
}
