/**
 * A finished job's results one input at a time, in input order, read from each batch's stored
 * vectors shard by shard: at most one shard's vectors are in memory, never the whole job's.
 */
import { normalizeInPlace, toNumberArray } from '../decode.js';
import { EmbeddingsError } from '../errors.js';
import type { StreamItem } from '../batch/types.js';
import { errorOfFailure } from './errors.js';
import { decodeResults, type JournalFailure } from './journal.js';
import { readResults } from './collect.js';
import type { BatchJobRunner } from './runner.js';

/** Every input of the collected job `runner` ran, as a vector or a failure, in input order. */
export async function* eachResult(
  runner: BatchJobRunner,
  shape: { normalize: boolean; vectorType: 'array' | 'float32' },
): AsyncGenerator<StreamItem<number[] | Float32Array>, void, undefined> {
  const { state, plan } = runner;
  let next = 0;
  for (const shard of state.shards) {
    // A shard's inputs are a contiguous range; its batches (first attempt and retries) hold them.
    const vectors = new Map<number, Float32Array>();
    const failures = new Map<number, JournalFailure>();
    for (const batch of state.batches) {
      if (batch.shard !== shard.shard) continue;
      const collected = batch.collected!;
      for (const failure of collected.failed) failures.set(failure.index, failure);
      if (collected.ok === 0) continue;
      const { indices, vectors: raw } = decodeResults(await readResults(runner, batch));
      indices.forEach((index, i) => vectors.set(index, raw[i]!));
    }
    for (let index = shard.firstIndex; index < shard.firstIndex + shard.count; index++) {
      if (index !== next) break;
      const id = plan.ids?.[index];
      const raw = vectors.get(index);
      const failure = failures.get(index);
      if (raw !== undefined) {
        let embedding: number[] | Float32Array = shape.vectorType === 'array' ? toNumberArray(raw) : raw;
        if (shape.normalize) embedding = normalizeInPlace(embedding);
        yield { index, ...(id === undefined ? {} : { id }), embedding };
      } else if (failure !== undefined) {
        yield { index, ...(id === undefined ? {} : { id }), error: errorOfFailure(failure) };
      } else break;
      next++;
    }
  }
  if (next !== state.totalInputs) {
    throw new EmbeddingsError(`runBatchJob: the journal accounts for inputs 0 to ${next - 1} of ${state.totalInputs}`);
  }
}
