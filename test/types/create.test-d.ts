// Type tests of what a user leans on when calling create(): checked by `tsc` in vitest's
// typecheck mode (and by `npm run typecheck`), never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  DEFAULTS,
  EmbeddingsClient,
  type ClientOptions,
  type CreateEmbeddingResponse,
  type Embedding,
  type RequestOptions,
} from '../../src/index.js';

const model = 'text-embedding-3-small';

describe('create()', () => {
  test('a default client returns number[] vectors', async () => {
    const client = new EmbeddingsClient();
    expectTypeOf(client).toEqualTypeOf<EmbeddingsClient<'array'>>();
    const res = await client.embeddings.create({ model, input: 'a' });
    expectTypeOf(res).toEqualTypeOf<CreateEmbeddingResponse<number[]>>();
    expectTypeOf(res.data).toEqualTypeOf<Embedding<number[]>[]>();
    expectTypeOf(res.data[0]!.index).toEqualTypeOf<number>();
    expectTypeOf(res.usage).toEqualTypeOf<{ prompt_tokens: number; total_tokens: number }>();
  });

  test("vectorType: 'float32' on the client gives Float32Array", async () => {
    const client = new EmbeddingsClient({ vectorType: 'float32' });
    expectTypeOf(client).toEqualTypeOf<EmbeddingsClient<'float32'>>();
    const res = await client.embeddings.create({ model, input: ['a', 'b'] });
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<Float32Array>();
  });

  test("vectorType on a call wins over the client's", async () => {
    const arrays = new EmbeddingsClient();
    const compact = await arrays.embeddings.create({ model, input: 'a' }, { vectorType: 'float32' });
    expectTypeOf(compact.data[0]!.embedding).toEqualTypeOf<Float32Array>();

    const float32 = new EmbeddingsClient({ vectorType: 'float32' });
    const plain = await float32.embeddings.create({ model, input: 'a' }, { vectorType: 'array' });
    expectTypeOf(plain.data[0]!.embedding).toEqualTypeOf<number[]>();
  });

  test("encoding_format: 'base64' gives strings, whatever the vectorType", async () => {
    const client = new EmbeddingsClient({ vectorType: 'float32' });
    const res = await client.embeddings.create({ model, input: 'a', encoding_format: 'base64' });
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<string>();

    const perCall = await client.embeddings.create(
      { model, input: 'a', encoding_format: 'base64' },
      { vectorType: 'array' },
    );
    expectTypeOf(perCall.data[0]!.embedding).toEqualTypeOf<string>();
  });

  test("encoding_format: 'float' gives vectors", async () => {
    const client = new EmbeddingsClient();
    const res = await client.embeddings.create({ model, input: 'a', encoding_format: 'float' });
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<number[]>();
  });

  test('inputs may be text, texts, token ids or lists of token ids', () => {
    const client = new EmbeddingsClient();
    expectTypeOf(client.embeddings.create).toBeCallableWith({ model, input: ['a', 'b'] });
    expectTypeOf(client.embeddings.create).toBeCallableWith({ model, input: [1, 2, 3] });
    expectTypeOf(client.embeddings.create).toBeCallableWith({ model, input: [[1, 2], [3]] });
    expectTypeOf(client.embeddings.create).toBeCallableWith({ model, input: 'a', dimensions: 256, user: 'u' });
  });

  test('request options take a signal, headers (null removes one) and limits', () => {
    const client = new EmbeddingsClient();
    expectTypeOf(client.embeddings.create).toBeCallableWith(
      { model, input: 'a' },
      {
        signal: AbortSignal.timeout(1000),
        headers: { 'X-Trace': 'on', 'User-Agent': null },
        timeout: 5000,
        maxRetries: 0,
        maxResponseBytes: 1024,
        normalize: false,
      },
    );
  });
});

describe('misspelt or missing fields are errors', () => {
  test('client options', () => {
    // @ts-expect-error there is no maxConcurency
    new EmbeddingsClient({ maxConcurency: 2 });
    // @ts-expect-error baseUrl is spelt baseURL
    new EmbeddingsClient({ baseUrl: 'http://127.0.0.1:8787/v1' });
    // @ts-expect-error vectorType is 'array' or 'float32'
    new EmbeddingsClient({ vectorType: 'float64' });
    expectTypeOf<{ apiKey: 'k'; maxConcurrency: 2; dispatcher: undefined }>().toExtend<ClientOptions>();
  });

  test('request options', () => {
    const client = new EmbeddingsClient();
    // @ts-expect-error there is no maxRetry
    void client.embeddings.create({ model, input: 'a' }, { maxRetry: 1 });
    // @ts-expect-error timeout is a number of ms
    void client.embeddings.create({ model, input: 'a' }, { timeout: '5s' });
    expectTypeOf<{ apiKey: string }>().not.toExtend<RequestOptions>();
  });

  test('request params', () => {
    const client = new EmbeddingsClient();
    // @ts-expect-error model is required
    void client.embeddings.create({ input: 'a' });
    // @ts-expect-error input is required
    void client.embeddings.create({ model });
    // @ts-expect-error there is no encodingFormat
    void client.embeddings.create({ model, input: 'a', encodingFormat: 'base64' });
    // @ts-expect-error encoding_format is 'float' or 'base64'
    void client.embeddings.create({ model, input: 'a', encoding_format: 'binary' });
  });
});

test('DEFAULTS reads as numbers and cannot be written to', () => {
  expectTypeOf(DEFAULTS.maxRetries).toExtend<number>();
  expectTypeOf(DEFAULTS.vectorType).toEqualTypeOf<'array'>();
  // @ts-expect-error DEFAULTS is frozen
  DEFAULTS.maxRetries = 5;
});
