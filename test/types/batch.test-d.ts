// Type tests of createMany() and stream(): item and vector types, ids, failures, options.
// Checked by `tsc` in vitest's typecheck mode (and by `npm run typecheck`), never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  BatchEmbeddingError,
  EmbeddingsClient,
  createMemoryCache,
  type BatchFailure,
  type BatchProgress,
  type CreateManyOptions,
  type CreateManyResponse,
  type EmbeddingsError,
  type StreamInput,
  type StreamItem,
  type StreamOptions,
} from '../../src/index.js';

const model = 'text-embedding-3-small';
declare const caught: unknown;

describe('createMany()', () => {
  test('gives the client vectorType, or the call one', async () => {
    const arrays = new EmbeddingsClient();
    const res = await arrays.embeddings.createMany({ model, input: ['a', 'b'] });
    expectTypeOf(res).toEqualTypeOf<CreateManyResponse<number[]>>();
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<number[]>();
    expectTypeOf(res.failures).toEqualTypeOf<BatchFailure[]>();

    const perCall = await arrays.embeddings.createMany({ model, input: ['a'] }, { vectorType: 'float32' });
    expectTypeOf(perCall.data[0]!.embedding).toEqualTypeOf<Float32Array>();

    const float32 = new EmbeddingsClient({ vectorType: 'float32' });
    const compact = await float32.embeddings.createMany({ model, input: 'a' });
    expectTypeOf(compact.data[0]!.embedding).toEqualTypeOf<Float32Array>();
  });

  test('takes readonly texts and every batch option', () => {
    const client = new EmbeddingsClient();
    const texts: readonly string[] = ['a', 'b'];
    expectTypeOf(client.embeddings.createMany).toBeCallableWith(
      { model, input: texts, dimensions: 256, user: 'u', encoding_format: 'float' },
      {
        maxConcurrency: 4,
        maxInputsPerRequest: 100,
        maxTokensPerRequest: 100_000,
        maxTokensPerInput: 8192,
        truncate: true,
        rateLimit: { requestsPerMinute: 3000, tokensPerMinute: 1_000_000 },
        dedupe: false,
        onProgress: (progress: BatchProgress) => void progress.completedInputs,
        onFailure: 'collect',
        cache: createMemoryCache(),
        tokenizer: { count: (text: string) => text.length, truncate: (text: string) => text },
        signal: AbortSignal.timeout(1000),
        timeout: 5000,
        maxRetries: 1,
        headers: { 'X-Trace': null },
        normalize: false,
      },
    );
  });

  test('misspelt options and params are errors', () => {
    const client = new EmbeddingsClient();
    // @ts-expect-error there is no concurrency: it is maxConcurrency
    void client.embeddings.createMany({ model, input: ['a'] }, { concurrency: 4 });
    // @ts-expect-error onFailure is 'throw' or 'collect'
    void client.embeddings.createMany({ model, input: ['a'] }, { onFailure: 'skip' });
    // @ts-expect-error the batch engine always returns vectors, never base64
    void client.embeddings.createMany({ model, input: ['a'], encoding_format: 'base64' });
    // @ts-expect-error createMany() takes texts, not token ids
    void client.embeddings.createMany({ model, input: [1, 2, 3] });
    expectTypeOf<{ ordered: true }>().not.toExtend<CreateManyOptions>();
  });
});

describe('stream()', () => {
  test('yields items with the vector type, an index, an id and an error', async () => {
    const client = new EmbeddingsClient();
    const items = client.embeddings.stream({ model, input: ['a', { id: 'doc-1', text: 'b' }] });
    expectTypeOf(items).toEqualTypeOf<AsyncGenerator<StreamItem<number[]>, void, undefined>>();
    for await (const item of items) {
      expectTypeOf(item.index).toEqualTypeOf<number>();
      expectTypeOf(item.id).toEqualTypeOf<string | undefined>();
      // A failure (under onFailure: 'collect') has no vector; a success has no error.
      if (item.error === undefined) {
        expectTypeOf(item.embedding).toEqualTypeOf<number[]>();
      } else {
        expectTypeOf(item.error).toEqualTypeOf<EmbeddingsError>();
        expectTypeOf(item.embedding).toEqualTypeOf<undefined>();
      }
    }
  });

  test('gives the client vectorType, or the call one', () => {
    const float32 = new EmbeddingsClient({ vectorType: 'float32' });
    expectTypeOf(float32.embeddings.stream({ model, input: ['a'] })).toEqualTypeOf<
      AsyncGenerator<StreamItem<Float32Array>, void, undefined>
    >();
    expectTypeOf(
      float32.embeddings.stream({ model, input: ['a'] }, { vectorType: 'array', ordered: true }),
    ).toEqualTypeOf<AsyncGenerator<StreamItem<number[]>, void, undefined>>();
  });

  test('reads iterables and async iterables of texts or { id, text }', () => {
    const client = new EmbeddingsClient();
    async function* lines(): AsyncGenerator<StreamInput> {
      yield 'a';
      yield { id: 'x', text: 'b' };
    }
    expectTypeOf(client.embeddings.stream).toBeCallableWith({ model, input: lines() });
    expectTypeOf(client.embeddings.stream).toBeCallableWith({ model, input: new Set(['a', 'b']) });
    // @ts-expect-error an { id, text } input needs its text
    void client.embeddings.stream({ model, input: [{ id: 'x' }] });
    // @ts-expect-error ids are strings
    void client.embeddings.stream({ model, input: [{ id: 1, text: 'a' }] });
    // @ts-expect-error there is no order: it is ordered
    void client.embeddings.stream({ model, input: ['a'] }, { order: true });
    expectTypeOf<{ ordered: true; maxConcurrency: 2 }>().toExtend<StreamOptions>();
  });
});

test('BatchEmbeddingError holds the vectors and the failures', () => {
  expectTypeOf<BatchEmbeddingError['data'][number]['embedding']>().toEqualTypeOf<number[] | Float32Array>();
  if (!(caught instanceof BatchEmbeddingError)) return;
  const error = caught as BatchEmbeddingError<Float32Array>;
  expectTypeOf(error).toExtend<EmbeddingsError>();
  expectTypeOf(error.data[0]!.embedding).toEqualTypeOf<Float32Array>();
  expectTypeOf(error.failures[0]!.error).toEqualTypeOf<EmbeddingsError>();
  expectTypeOf(error.failures[0]!.index).toEqualTypeOf<number>();
});
