/**
 * A finished job's results one input at a time, in input order, read from each batch's stored
 * vectors shard by shard: at most one shard's vectors are in memory, never the whole job's,
 * and those in one block rather than an object each (which would outlive the young
 * generation and swell the heap by a shard's worth of garbage each time).
 */
import { LITTLE_ENDIAN_HOST, normalizeInPlace, toNumberArray } from '../decode.js';
import { EmbeddingsError } from '../errors.js';
import type { StreamItem } from '../batch/types.js';
import { errorOfFailure } from './errors.js';
import type { JournalFailure } from './journal.js';
import { readResults } from './collect.js';
import type { BatchJobRunner } from './runner.js';

/** One shard's vectors: `count` rows of `dims` values, and which rows were filled. */
interface ShardBlock {
  dims: number;
  values: Float32Array;
  filled: Uint8Array;
}

/** Copies the stored results `bytes` (see encodeResults) into the block of the shard starting at `first`. */
function fill(block: ShardBlock | undefined, bytes: Uint8Array, first: number, count: number): ShardBlock {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new RangeError(`results of ${buf.length} bytes: too short for a header`);
  const rows = buf.readUInt32LE(0);
  const dims = buf.readUInt32LE(4);
  if (buf.length !== 8 + rows * 4 + rows * dims * 4) {
    throw new RangeError(`results of ${buf.length} bytes do not hold ${rows} vectors of ${dims} dimensions`);
  }
  block ??= { dims, values: new Float32Array(count * dims), filled: new Uint8Array(count) };
  if (rows > 0 && dims !== block.dims) {
    throw new RangeError(`results of ${dims} dimensions in a shard of ${block.dims}-dimension vectors`);
  }
  const at = 8 + rows * 4;
  for (let i = 0; i < rows; i++) {
    const row = buf.readUInt32LE(8 + i * 4) - first;
    if (row < 0 || row >= count) throw new RangeError(`results name input ${row + first}, outside their shard`);
    const start = at + i * dims * 4;
    if (LITTLE_ENDIAN_HOST) {
      new Uint8Array(block.values.buffer, row * dims * 4, dims * 4).set(buf.subarray(start, start + dims * 4));
    } else {
      for (let j = 0; j < dims; j++) block.values[row * dims + j] = buf.readFloatLE(start + j * 4);
    }
    block.filled[row] = 1;
  }
  return block;
}

/** Every input of the collected job `runner` ran, as a vector or a failure, in input order. */
export async function* eachResult(
  runner: BatchJobRunner,
  shape: { normalize: boolean; vectorType: 'array' | 'float32' },
): AsyncGenerator<StreamItem<number[] | Float32Array>, void, undefined> {
  const { state, plan } = runner;
  let next = 0;
  for (const shard of state.shards) {
    // A shard's inputs are a contiguous range; its batches (first attempt and retries) hold them.
    let block: ShardBlock | undefined;
    const failures = new Map<number, JournalFailure>();
    for (const batch of state.batches) {
      if (batch.shard !== shard.shard) continue;
      const collected = batch.collected!;
      for (const failure of collected.failed) failures.set(failure.index, failure);
      if (collected.ok > 0) block = fill(block, await readResults(runner, batch), shard.firstIndex, shard.count);
    }
    for (let row = 0; row < shard.count; row++) {
      const index = shard.firstIndex + row;
      if (index !== next) break;
      const id = plan.ids?.[index];
      const failure = failures.get(index);
      if (block?.filled[row] === 1) {
        // Each vector owns its memory: one kept by the caller does not keep the shard's block.
        const raw = block.values.slice(row * block.dims, (row + 1) * block.dims);
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
