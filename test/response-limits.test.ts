import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { http, HttpResponse } from 'msw';
import { describe, expect, test } from 'vitest';
import { EmbeddingsClient, InternalServerError, ResponseTooLargeError, ResponseValidationError } from '../src/index.js';
import { encodeFloat32Base64 } from '../src/decode.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike, vectorFor } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);

const params = { model: 'm', input: 'hello' };
const MiB = 1024 * 1024;
const answer = JSON.stringify({
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: encodeFloat32Base64(vectorFor('hello')) }],
  model: 'm',
  usage: { prompt_tokens: 1, total_tokens: 1 },
});

/**
 * A body of `total` bytes made on demand, 64 KiB per pull: `pulled` tells how much the server
 * got to write, which stays far below `total` once the client stops reading and closes.
 */
function lazyBody(total: number, byte = 0x20) {
  const chunk = new Uint8Array(64 * 1024).fill(byte);
  const body = { pulled: 0, stream: undefined as unknown as ReadableStream<Uint8Array> };
  body.stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (body.pulled >= total) return controller.close();
      body.pulled += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return body;
}

/** Answers with `body` (a string or bytes) sent as `content-encoding: encoding`. */
function encodedHandler(body: Uint8Array | string, encoding: string, status = 200) {
  return http.post(
    '*/embeddings',
    () =>
      new HttpResponse(body, { status, headers: { 'content-type': 'application/json', 'content-encoding': encoding } }),
  );
}

describe('maxResponseBytes', () => {
  test('stops reading an oversized 2xx body as soon as it passes the limit, and does not retry', async () => {
    const body = lazyBody(256 * MiB);
    api.use(
      http.post(
        '*/embeddings',
        () => new HttpResponse(body.stream, { headers: { 'content-type': 'application/json' } }),
      ),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2, maxResponseBytes: MiB });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error.name).toBe('ResponseTooLargeError');
    expect(error.limit).toBe(MiB);
    expect(error.received).toBeGreaterThan(MiB);
    expect(error.received).toBeLessThan(2 * MiB);
    expect(error.message).toBe(
      `POST ${api.url}/embeddings: status 200 response body is larger than maxResponseBytes (1048576 bytes): ` +
        `reading stopped after ${error.received} bytes`,
    );
    expect(api.requests).toHaveLength(1);
    // The server could write only what the client read plus the socket buffers: reading stopped.
    expect(body.pulled).toBeLessThan(64 * MiB);
    await client.close();
  });

  test("a call's maxResponseBytes wins over the client's", async () => {
    const padded = answer.replace('{', `{"padding":"${'x'.repeat(2 * MiB)}",`);
    api.use(
      http.post('*/embeddings', () => new HttpResponse(padded, { headers: { 'content-type': 'application/json' } })),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0, maxResponseBytes: MiB });
    await expect(client.embeddings.create(params)).rejects.toBeInstanceOf(ResponseTooLargeError);
    const res = await client.embeddings.create(params, { maxResponseBytes: 4 * MiB, normalize: false });
    expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('hello')));
    const tight = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
    await expect(tight.embeddings.create(params, { maxResponseBytes: MiB })).rejects.toBeInstanceOf(
      ResponseTooLargeError,
    );
    await Promise.all([client.close(), tight.close()]);
  });

  test('createMany() takes maxResponseBytes per call too, and reports the request it stopped', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2 });
    const res = await client.embeddings.createMany(
      { model: 'm', input: ['a', 'b', 'c'] },
      { maxResponseBytes: 64, maxInputsPerRequest: 1, onFailure: 'collect' },
    );
    expect(res.data).toHaveLength(0);
    expect(res.failures.map((f) => [f.index, f.error.name])).toEqual([
      [0, 'ResponseTooLargeError'],
      [1, 'ResponseTooLargeError'],
      [2, 'ResponseTooLargeError'],
    ]);
    expect(api.requests).toHaveLength(3);
    await expect(client.embeddings.createMany({ model: 'm', input: ['a'] }, { maxResponseBytes: 0 })).rejects.toThrow(
      '`maxResponseBytes`',
    );
    await client.close();
  });

  test('reads only the start of an endless error body, keeping the status error and its retries', async () => {
    const body = lazyBody(256 * MiB, 0x78);
    api.use(
      http.post(
        '*/embeddings',
        () => new HttpResponse(body.stream, { status: 502, headers: { 'content-type': 'text/html' } }),
      ),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.body).toBe(`${'x'.repeat(2048)}...`);
    expect(body.pulled).toBeLessThan(64 * MiB);
    await client.close();
  });
});

describe('content-encoding', () => {
  const bytes = Buffer.from(answer);
  test.each([
    ['gzip', gzipSync(bytes)],
    ['x-gzip', gzipSync(bytes)],
    ['deflate', deflateSync(bytes)],
    ['br', brotliCompressSync(bytes)],
    ['GZIP', gzipSync(bytes)],
    ['gzip, br', brotliCompressSync(gzipSync(bytes))],
    ['identity', bytes],
  ])('decodes a %s answer', async (encoding, body) => {
    api.use(encodedHandler(body, encoding));
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
    const res = await client.embeddings.create(params, { normalize: false });
    expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('hello')));
    await client.close();
  });

  test('applies maxResponseBytes to the decoded size: a gzip bomb is stopped, not inflated', async () => {
    const bomb = gzipSync(Buffer.alloc(16 * MiB, 0x20));
    expect(bomb.length).toBeLessThan(MiB / 16);
    api.use(encodedHandler(bomb, 'gzip'));
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2, maxResponseBytes: MiB });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error.received).toBeLessThan(2 * MiB);
    expect(error.message).toMatch(
      /maxResponseBytes \(1048576 bytes\): reading stopped after \d+ bytes decoded from gzip$/,
    );
    expect(api.requests).toHaveLength(1);
    await client.close();
  });

  test('names an encoding it cannot decode, without retrying', async () => {
    api.use(encodedHandler(bytes, 'zstd'));
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2 });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toBe(
      'POST /embeddings returned status 200 with an invalid body: content-encoding "zstd" is not supported (gzip, x-gzip, deflate and br are)',
    );
    expect(api.requests).toHaveLength(1);
    await client.close();
  });

  test('names the encoding of a body that does not decode, without retrying', async () => {
    api.use(encodedHandler(bytes, 'gzip'));
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2 });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toMatch(/invalid body: body could not be decoded as gzip \(incorrect header check\)$/);
    expect(api.requests).toHaveLength(1);
    await client.close();
  });

  test('decodes an error body too, so the server message reaches the error', async () => {
    const body = gzipSync(JSON.stringify({ error: { message: 'Invalid model', type: 'invalid_request_error' } }));
    api.use(encodedHandler(body, 'gzip', 400));
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
    await expect(client.embeddings.create(params)).rejects.toThrow(
      'POST /embeddings failed with status 400: Invalid model',
    );
    await client.close();
  });
});
