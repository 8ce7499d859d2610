import { Agent, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  APIError,
  BadRequestError,
  decodeBase64Float32,
  EmbeddingsClient,
  encodeFloat32Base64,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from '../src/index.js';
import { createServer, localHashEmbedding, type LocalServer } from '../src/server/index.js';
import { maxDifference } from './support/vector-math.js';

/** Records each request body the client's real undici transport puts on the wire. */
function recordingDispatcher(bodies: unknown[]): Dispatcher {
  return new Agent().compose((dispatch) => (options, handler) => {
    bodies.push(JSON.parse(options.body as string));
    return dispatch(options, handler);
  });
}

const server = createServer();
let url: string;
const bodies: unknown[] = [];
let client: EmbeddingsClient;

beforeAll(async () => {
  ({ url } = await server.listen(0));
  client = new EmbeddingsClient({ baseURL: url, dispatcher: recordingDispatcher(bodies), maxRetries: 0 });
});
afterAll(() => server.close());
afterEach(() => {
  bodies.length = 0;
});

const extra: LocalServer[] = [];
afterAll(() => Promise.all(extra.map((s) => s.close())));
async function serverWith(options: Parameters<typeof createServer>[0]) {
  const s = createServer(options);
  extra.push(s);
  return (await s.listen(0)).url;
}

describe('EmbeddingsClient against the local server', () => {
  test('the default path asks for base64 and returns the server model vectors as number[]', async () => {
    const input = ['the client default path', 'second text'];
    const res = await client.embeddings.create({ model: 'local-hash-embedding', input });
    expect(bodies).toEqual([{ model: 'local-hash-embedding', input, encoding_format: 'base64' }]);
    expect(res.data).toHaveLength(2);
    for (const [i, text] of input.entries()) {
      expect(Array.isArray(res.data[i]!.embedding)).toBe(true);
      expect(maxDifference(res.data[i]!.embedding, localHashEmbedding(text, 384))).toBeLessThan(1e-6);
    }
    expect(res.model).toBe('local-hash-embedding');
    expect(res.usage.prompt_tokens).toBe(res.usage.total_tokens);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  test('dimensions reaches the server and sets the vector length; vectorType float32 gives Float32Array', async () => {
    const res = await client.embeddings.create(
      { model: 'm', input: 'short', dimensions: 256 },
      { vectorType: 'float32' },
    );
    expect(bodies).toEqual([{ model: 'm', input: 'short', dimensions: 256, encoding_format: 'base64' }]);
    const vector = res.data[0]!.embedding;
    expect(vector).toBeInstanceOf(Float32Array);
    expect(maxDifference(vector, localHashEmbedding('short', 256))).toBeLessThan(1e-6);
  });

  test("encoding_format 'float' gets float JSON with the same vectors", async () => {
    const res = await client.embeddings.create({
      model: 'm',
      input: 'floats please',
      encoding_format: 'float',
      dimensions: 32,
    });
    expect(bodies).toEqual([{ model: 'm', input: 'floats please', encoding_format: 'float', dimensions: 32 }]);
    expect(maxDifference(res.data[0]!.embedding, localHashEmbedding('floats please', 32))).toBeLessThan(1e-6);
  });

  test("encoding_format 'base64' returns the server's string, byte for byte", async () => {
    const res = await client.embeddings.create({ model: 'm', input: 'raw', encoding_format: 'base64', dimensions: 8 });
    expect(res.data[0]!.embedding).toBe(encodeFloat32Base64(localHashEmbedding('raw', 8)));
  });

  test('the public decodeBase64Float32 turns that string back into the vector', async () => {
    const res = await client.embeddings.create({ model: 'm', input: 'raw', encoding_format: 'base64', dimensions: 8 });
    expect(decodeBase64Float32(res.data[0]!.embedding)).toEqual(localHashEmbedding('raw', 8));
  });

  test('token arrays round-trip through the client', async () => {
    const res = await client.embeddings.create({ model: 'm', input: [[1, 2, 3], [4]], dimensions: 16 });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.usage.prompt_tokens).toBe(4);
  });
});

describe('server errors reach the caller as the right classes', () => {
  test('a 400 the client lets through becomes BadRequestError with param, code and request id', async () => {
    const error = await client.embeddings.create({ model: 'm', input: 'x', dimensions: 5000 }).catch((e: unknown) => e);
    expect(bodies).toHaveLength(1);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({
      status: 400,
      param: 'dimensions',
      code: 'integer_above_max_value',
      type: 'invalid_request_error',
    });
    expect((error as APIError).requestId).toMatch(/^req_[0-9a-f]{32}$/);
    expect((error as Error).message).toContain('Expected a value <= 3072, but got 5000 instead.');
  });

  test('an unknown route becomes NotFoundError', async () => {
    const wrong = new EmbeddingsClient({ baseURL: `${url}/v2`, maxRetries: 0 });
    await expect(wrong.embeddings.create({ model: 'm', input: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  test('beyond rpm the 429 becomes RateLimitError carrying retry-after-ms and the x-ratelimit-* headers', async () => {
    const baseURL = await serverWith({ rpm: 1 });
    await new EmbeddingsClient({ baseURL }).embeddings.create({ model: 'm', input: 'first' });
    // Another client, which has not seen the first answer's headers: one client would wait for the refill.
    const limited = new EmbeddingsClient({ baseURL, maxRetries: 0 });
    const error = await limited.embeddings.create({ model: 'm', input: 'second' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    const { headers, code } = error as RateLimitError;
    expect(code).toBe('rate_limit_exceeded');
    expect(Number(headers['retry-after-ms'])).toBeGreaterThan(0);
    expect(headers['x-ratelimit-limit-requests']).toBe('1');
    expect(headers['x-ratelimit-remaining-requests']).toBe('0');
  });

  test('injected 500, 502 and 503 become InternalServerError, the 502 HTML page included', async () => {
    const failing = new EmbeddingsClient({ baseURL: await serverWith({ failRate: 1, seed: 3 }), maxRetries: 0 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const error = (await failing.embeddings.create({ model: 'm', input: 'x' }).catch((e: unknown) => e)) as APIError;
      statuses.add(error.status);
      expect(error).toBeInstanceOf(error.status === 429 ? RateLimitError : InternalServerError);
    }
    expect(statuses).toEqual(new Set([500, 502, 503, 429]));
  });

  test('a body over the cap becomes an APIError with status 413', async () => {
    const small = new EmbeddingsClient({ baseURL: await serverWith({ maxBodyBytes: 512 }), maxRetries: 0 });
    const error = await small.embeddings.create({ model: 'm', input: 'y'.repeat(2000) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 413, code: 'request_too_large' });
  });

  test('with retries the client gets every answer through injected faults; the server saw each retry', async () => {
    const baseURL = await serverWith({ failRate: 0.3, seed: 11 });
    const faulty = extra.at(-1)!;
    const retrying = new EmbeddingsClient({ baseURL, maxRetries: 8 });
    for (let i = 0; i < 8; i++) {
      const res = await retrying.embeddings.create({ model: 'm', input: `text ${i}`, dimensions: 8 });
      expect(maxDifference(res.data[0]!.embedding, localHashEmbedding(`text ${i}`, 8))).toBeLessThan(1e-6);
    }
    const injected = Object.values(faulty.stats.faults).reduce((a, b) => a + b, 0);
    expect(injected).toBeGreaterThan(0);
    expect(faulty.stats.requests).toBe(8 + injected);
    expect(faulty.stats.embeddings).toBe(8);
  }, 60_000);
});
