/** What every shared cache must do at the wire, checked the same way for Redis, keyv and disk. */
import { expect } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import type { BatchApi } from './batch-api.js';
import { expectedVector, numberedTexts, vectorFor } from './openai-like.js';

const model = 'text-embedding-3-small';

/** The bytes of each vector, so equality is bit for bit (-0, NaN payloads and all), not numeric. */
export function bitsOf(vectors: ArrayLike<number>[]): Buffer[] {
  return vectors.map((vector) => Buffer.from(Float32Array.from(vector).buffer));
}

/**
 * A first run through `first` sends every text; a second run of the same texts through `second`
 * (the same store, seen by another process in the Redis and disk cases) sends no request at
 * all, and hands back the first run's vectors bit for bit.
 */
export async function expectSecondRunSendsNothing(
  wire: BatchApi,
  first: EmbeddingCache,
  second: EmbeddingCache,
  count = 300,
): Promise<void> {
  wire.serve();
  const input = numberedTexts(count, 'shared');
  const options = { maxInputsPerRequest: 100, normalize: false, vectorType: 'float32' } as const;
  const one = await wire.client.embeddings.createMany({ model, input }, { ...options, cache: first });
  const sent = wire.api.requests.length;
  expect(sent).toBe(Math.ceil(count / 100));
  expect(bitsOf(one.data.map((item) => item.embedding))).toEqual(bitsOf(input.map((text) => vectorFor(text))));
  const two = await wire.knownLimitsClient.embeddings.createMany({ model, input }, { ...options, cache: second });
  expect(wire.api.requests).toHaveLength(sent);
  expect(two.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
  expect(bitsOf(two.data.map((item) => item.embedding))).toEqual(bitsOf(one.data.map((item) => item.embedding)));
}

/**
 * Vectors are stored as the server sent them: a run with `normalize: false` fills the cache and
 * a run with `normalize: true` is served from it, normalised, without a request; and back.
 */
export async function expectNormalizeServedFromOneCache(wire: BatchApi, cache: EmbeddingCache): Promise<void> {
  wire.serve();
  const input = numberedTexts(50, 'normalize');
  const raw = await wire.client.embeddings.createMany({ model, input }, { cache, normalize: false });
  const sent = wire.api.requests.length;
  expect(sent).toBeGreaterThan(0);
  const unit = await wire.client.embeddings.createMany({ model, input }, { cache, normalize: true });
  const rawAgain = await wire.client.embeddings.createMany({ model, input }, { cache, normalize: false });
  expect(wire.api.requests).toHaveLength(sent);
  expect(raw.data.map((item) => item.embedding)).toEqual(input.map((text) => Array.from(vectorFor(text))));
  unit.data.forEach((item, i) => {
    expect(item.embedding).toHaveLength(8);
    item.embedding.forEach((x, k) => expect(x).toBeCloseTo(expectedVector(input[i]!)[k]!, 6));
  });
  expect(rawAgain.data).toEqual(raw.data);
}

/** Special float32 values a byte format must keep exactly: signed zero, subnormals, extremes. */
export const EDGE_VECTOR = Float32Array.of(
  -0,
  0,
  1.401298464324817e-45,
  -1.401298464324817e-45,
  3.4028234663852886e38,
  -3.4028234663852886e38,
  1.1754943508222875e-38,
  Math.fround(Math.PI),
  Math.fround(-1 / 3),
);
